extension ProvisionerConfiguration {
    /// The top-level sections of the file that a command reads. Only these are resolved (their
    /// `env:` and `file:` values read) and validated: a tool that talks only to Kafka runs with a
    /// production file whose console password or vendor credentials live in variables it does
    /// not have. A section left out holds its defaults, whatever the file says, so a command
    /// must name every section it reads.
    public struct Sections: OptionSet, Sendable {
        public let rawValue: Int

        public init(rawValue: Int) { self.rawValue = rawValue }

        public static let kafka = Sections(rawValue: 1 << 0)
        public static let worker = Sections(rawValue: 1 << 1)
        public static let observability = Sections(rawValue: 1 << 2)
        public static let console = Sections(rawValue: 1 << 3)
        public static let targets = Sections(rawValue: 1 << 4)

        /// What the worker (`run`, `dev`) reads: everything.
        public static let all: Sections = [.kafka, .worker, .observability, .console, .targets]
    }
}
