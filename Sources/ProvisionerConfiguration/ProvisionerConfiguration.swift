import Foundation
import ProvisioningContract
import Yams

/// The worker's configuration (contract section 7): one YAML file, every key overridable by
/// `PROVISIONER_<PATH>` environment variables, and `env:NAME` / `file:/path` values for secrets.
///
/// Read with Yams rather than swift-configuration: librdkafka property names contain dots
/// (`session.timeout.ms`) and `targets` is an open-ended map, neither of which fits dotted
/// configuration keys.
public struct ProvisionerConfiguration: Sendable {
    public var kafka: Kafka
    public var worker: Worker
    public var observability: Observability
    public var console: Console
    public var targets: [String: Target]

    public struct Kafka: Sendable {
        public var bootstrapServers: String
        public var groupId: String
        public var commandsTopic = "provisioning.commands"
        public var repliesTopic = "provisioning.replies"
        public var deadLettersTopic = "provisioning.dlq"
        /// Worker status records (contract section 10), compacted.
        public var statusTopic = "provisioning.status"
        /// The redrive audit (contract section 11), compacted.
        public var replaysTopic = "provisioning.dlq.replays"
        /// Passed to librdkafka as they are.
        public var properties: [String: String]
    }

    public struct Worker: Sendable {
        public var maxInFlight = 256
        public var exactlyOnce = false
        public var shutdownGracePeriod: Duration = .seconds(30)
    }

    public struct Observability: Sendable {
        public var port = 9464
        public var logFormat = LogFormat.json
        /// Where spans are exported, if anywhere (a build with the `OTLP` package trait).
        public var otlp: OTLP? = nil
    }

    /// OTLP/HTTP export of the worker's spans (`observability.otlp`).
    public struct OTLP: Sendable {
        /// The collector's base URL (as OTEL_EXPORTER_OTLP_ENDPOINT): spans go to `/v1/traces` below it.
        public var endpoint: URL
        /// Sent with every export (an API key, say): secrets.
        public var headers: [String: Secret]
    }

    /// `provisioner console` (contract section 10).
    public struct Console: Sendable {
        public var host: String
        public var port: Int
        /// HTTP Basic credentials; without them the console refuses to start (except under `dev`).
        public var username: String?
        public var password: Secret?
        /// The newest replies, commands and dead letters held in memory: what bounds it.
        public var replyWindow = 20_000
        public var commandWindow = 20_000
        public var deadLetterWindow = 10_000

        public init(host: String = "127.0.0.1", port: Int = 9470, username: String? = nil, password: Secret? = nil) {
            self.host = host
            self.port = port
            self.username = username
            self.password = password
        }
    }

    public enum LogFormat: String, Sendable {
        case json, text
    }

    public struct Target: Sendable {
        public var name: String
        public var vendor: VendorKind
        public var baseURL: URL
        public var credentials: [String: Secret]
        public var tenant: [String: String]
        public var timeout: Duration
        public var retry: Retry
        public var rateLimit: RateLimit?
        public var maxConcurrency: Int
    }

    public struct Retry: Sendable {
        public var maxAttempts: Int
        public var initialBackoff: Duration
        public var maxBackoff: Duration
    }

    public struct RateLimit: Sendable {
        public var perSecond: Double
        public var burst: Int
    }

    /// Credentials each vendor kind needs (contract section 7).
    static func requiredCredentials(_ vendor: VendorKind) -> [String] {
        switch vendor {
        case .tecs, .servicemobility, .asms: ["username", "password"]
        case .urac: ["key"]
        }
    }
}

/// A configuration problem, naming the key (exit code 64).
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var key: String
    public var message: String
    /// The environment variable an `env:` value names, when that variable is not set.
    public var unsetVariable: String?
    public var description: String { key.isEmpty ? message : "\(key): \(message)" }

    init(_ key: String, _ message: String, unsetVariable: String? = nil) {
        self.key = key
        self.message = message
        self.unsetVariable = unsetVariable
    }
}

extension ProvisionerConfiguration {
    /// Loads the file at `path`, applies `environment` overrides and resolves the secrets of
    /// `sections`: the Kafka tools (`send`, `replies`, `dlq`, `reconcile`) read only `kafka`, so
    /// they run without the console's or the vendors' secrets.
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment, sections: Sections = .all)
        throws(ConfigurationError) -> Self
    {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError("", "cannot read configuration file \(path)")
        }
        return try parse(yaml: text, environment: environment, sections: sections)
    }

    public static func parse(yaml: String, environment: [String: String], sections: Sections = .all) throws(ConfigurationError) -> Self {
        var values = try Flattened(yaml: yaml)
        values.applyOverrides(environment)
        let reader = Reader(values: values, environment: environment)
        return try reader.configuration(sections: sections)
    }
}

/// The YAML as leaf paths and their text.
extension ProvisionerConfiguration {
    /// A duration as the configuration writes it (`200ms`, `10s`, `1.5m`, `2h`), for options
    /// that take one the same way.
    public static func parseDuration(_ text: String) -> Duration? { Reader.parseDuration(text) }

    /// Every key the reader knows, as dotted paths (a target's under `targets.<name>.`): what
    /// the README's configuration reference must list, no more, no less.
    public static var knownKeys: [String] {
        Flattened.knownPaths.map { $0.joined(separator: ".") } + ["kafka.properties", "observability.otlp.headers"]
            + Flattened.targetFields.map { "targets.<name>." + $0.joined(separator: ".") }
    }
}

struct Flattened {
    var leaves: [[String]: String] = [:]

    init(yaml: String) throws(ConfigurationError) {
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigurationError("", "the configuration is not valid YAML: \(error)")
        }
        if let node { try add(node, at: []) }
    }

    private mutating func add(_ node: Node, at path: [String]) throws(ConfigurationError) {
        switch node {
        case .scalar(let scalar):
            leaves[path] = scalar.string
        case .mapping(let mapping):
            for (key, value) in mapping {
                guard let name = key.string else { throw ConfigurationError(path.joined(separator: "."), "keys must be text") }
                try add(value, at: path + [name])
            }
        case .sequence:
            throw ConfigurationError(path.joined(separator: "."), "lists are not used in this configuration")
        case .alias:
            throw ConfigurationError(path.joined(separator: "."), "YAML aliases are not supported")
        }
    }

    /// The environment variable that overrides `path`.
    static func environmentName(_ path: [String]) -> String {
        "PROVISIONER_" + path.joined(separator: "_").uppercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
    }

    /// The scalar keys of contract section 7 that may come from the environment alone.
    static let knownPaths: [[String]] = [
        ["kafka", "bootstrapServers"], ["kafka", "groupId"],
        ["kafka", "topics", "commands"], ["kafka", "topics", "replies"], ["kafka", "topics", "deadLetters"],
        ["kafka", "topics", "status"], ["kafka", "topics", "replays"],
        ["worker", "maxInFlight"], ["worker", "exactlyOnce"], ["worker", "shutdownGracePeriod"],
        ["observability", "port"], ["observability", "logFormat"],
        ["observability", "otlp", "endpoint"], ["observability", "otlp", "protocol"],
        ["console", "host"], ["console", "port"], ["console", "auth", "username"], ["console", "auth", "password"],
        ["console", "windows", "replies"], ["console", "windows", "commands"], ["console", "windows", "deadLetters"],
    ]

    static let targetFields: [[String]] = [
        ["vendor"], ["baseURL"], ["timeout"], ["maxConcurrency"],
        ["credentials", "username"], ["credentials", "password"], ["credentials", "key"], ["credentials", "accessToken"],
        ["tenant", "id"], ["tenant", "code"],
        ["retry", "maxAttempts"], ["retry", "initialBackoff"], ["retry", "maxBackoff"],
        ["rateLimit", "perSecond"], ["rateLimit", "burst"],
    ]

    mutating func applyOverrides(_ environment: [String: String]) {
        var paths = Set(leaves.keys).union(Self.knownPaths)
        for target in Set(leaves.keys.filter { $0.first == "targets" && $0.count > 2 }.map { $0[1] }) {
            for field in Self.targetFields { paths.insert(["targets", target] + field) }
        }
        for path in paths {
            if let value = environment[Self.environmentName(path)] { leaves[path] = value }
        }
    }
}

/// Typed, validated reading of the flattened configuration.
struct Reader {
    let values: Flattened
    let environment: [String: String]

    private func key(_ path: [String]) -> String { path.joined(separator: ".") }

    /// The value at `path`, with `env:` and `file:` references resolved.
    func string(_ path: [String]) throws(ConfigurationError) -> String? {
        guard let raw = values.leaves[path] else { return nil }
        if raw.hasPrefix("env:") {
            let name = String(raw.dropFirst(4))
            guard let value = environment[name] else { throw ConfigurationError(key(path), "environment variable \(name) is not set", unsetVariable: name) }
            return value
        }
        if raw.hasPrefix("file:") {
            let file = String(raw.dropFirst(5))
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw ConfigurationError(key(path), "cannot read \(file)") }
            return text.hasSuffix("\n") ? String(text.dropLast()) : text
        }
        return raw
    }

    func required(_ path: [String]) throws(ConfigurationError) -> String {
        guard let value = try string(path), !value.isEmpty else { throw ConfigurationError(key(path), "is required") }
        return value
    }

    func int(_ path: [String], default fallback: Int, range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let text = try string(path) else { return fallback }
        guard let value = Int(text), range.contains(value) else {
            throw ConfigurationError(key(path), "must be a whole number from \(range.lowerBound) to \(range.upperBound), not '\(text)'")
        }
        return value
    }

    func bool(_ path: [String], default fallback: Bool) throws(ConfigurationError) -> Bool {
        guard let text = try string(path) else { return fallback }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw ConfigurationError(key(path), "must be true or false, not '\(text)'")
        }
    }

    func duration(_ path: [String], default fallback: Duration) throws(ConfigurationError) -> Duration {
        guard let text = try string(path) else { return fallback }
        guard let value = Self.parseDuration(text) else {
            throw ConfigurationError(key(path), "must be a duration such as 200ms, 10s or 1m, not '\(text)'")
        }
        return value
    }

    static func parseDuration(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (unit, seconds) in units where text.hasSuffix(unit) {
            guard let number = Double(text.dropLast(unit.count)), number >= 0 else { return nil }
            return .milliseconds(Int64((number * seconds * 1000).rounded()))
        }
        return nil
    }

    /// The child names below `path`.
    func children(_ path: [String]) -> [String] {
        Set(values.leaves.keys.filter { $0.count > path.count && Array($0.prefix(path.count)) == path }.map { $0[path.count] }).sorted()
    }

    /// The sections asked for, read and validated; the others at their defaults, unread, so
    /// that nothing in them (an unset `env:` variable, a bad value) stops a command.
    func configuration(sections: ProvisionerConfiguration.Sections) throws(ConfigurationError) -> ProvisionerConfiguration {
        ProvisionerConfiguration(
            kafka: sections.contains(.kafka) ? try kafka() : .init(bootstrapServers: "", groupId: "", properties: [:]),
            worker: sections.contains(.worker) ? try worker() : .init(),
            observability: sections.contains(.observability) ? try observability() : .init(),
            console: sections.contains(.console) ? try console() : .init(),
            targets: sections.contains(.targets) ? try targets() : [:]
        )
    }

    func kafka() throws(ConfigurationError) -> ProvisionerConfiguration.Kafka {
        var properties: [String: String] = [:]
        for (path, _) in values.leaves where path.count > 2 && path[0] == "kafka" && path[1] == "properties" {
            // librdkafka names contain dots: whatever follows `kafka.properties.` is the name.
            properties[path.dropFirst(2).joined(separator: ".")] = try string(path)
        }
        return ProvisionerConfiguration.Kafka(
            bootstrapServers: try required(["kafka", "bootstrapServers"]),
            groupId: try required(["kafka", "groupId"]),
            commandsTopic: try string(["kafka", "topics", "commands"]) ?? "provisioning.commands",
            repliesTopic: try string(["kafka", "topics", "replies"]) ?? "provisioning.replies",
            deadLettersTopic: try string(["kafka", "topics", "deadLetters"]) ?? "provisioning.dlq",
            statusTopic: try string(["kafka", "topics", "status"]) ?? "provisioning.status",
            replaysTopic: try string(["kafka", "topics", "replays"]) ?? "provisioning.dlq.replays",
            properties: properties
        )
    }

    func worker() throws(ConfigurationError) -> ProvisionerConfiguration.Worker {
        ProvisionerConfiguration.Worker(
            maxInFlight: try int(["worker", "maxInFlight"], default: 256, range: 1...100_000),
            exactlyOnce: try bool(["worker", "exactlyOnce"], default: false),
            shutdownGracePeriod: try duration(["worker", "shutdownGracePeriod"], default: .seconds(30))
        )
    }

    func observability() throws(ConfigurationError) -> ProvisionerConfiguration.Observability {
        let formatText = try string(["observability", "logFormat"]) ?? "json"
        guard let logFormat = ProvisionerConfiguration.LogFormat(rawValue: formatText) else {
            throw ConfigurationError("observability.logFormat", "must be json or text, not '\(formatText)'")
        }
        var observability = ProvisionerConfiguration.Observability(
            port: try int(["observability", "port"], default: 9464, range: 0...65535),
            logFormat: logFormat
        )
        observability.otlp = try otlp()
        return observability
    }

    func console() throws(ConfigurationError) -> ProvisionerConfiguration.Console {
        var console = ProvisionerConfiguration.Console(
            host: try string(["console", "host"]) ?? "127.0.0.1",
            port: try int(["console", "port"], default: 9470, range: 0...65535),
            username: try string(["console", "auth", "username"]),
            password: try string(["console", "auth", "password"]).map(Secret.init)
        )
        console.replyWindow = try int(["console", "windows", "replies"], default: 20_000, range: 100...10_000_000)
        console.commandWindow = try int(["console", "windows", "commands"], default: 20_000, range: 100...10_000_000)
        console.deadLetterWindow = try int(["console", "windows", "deadLetters"], default: 10_000, range: 100...10_000_000)
        return console
    }

    func targets() throws(ConfigurationError) -> [String: ProvisionerConfiguration.Target] {
        var targets: [String: ProvisionerConfiguration.Target] = [:]
        for name in children(["targets"]) {
            targets[name] = try target(name)
        }
        return targets
    }

    /// `observability.otlp`: nil unless something under it is set; then an endpoint is required.
    func otlp() throws(ConfigurationError) -> ProvisionerConfiguration.OTLP? {
        let base = ["observability", "otlp"]
        guard values.leaves.keys.contains(where: { $0.count > 2 && Array($0.prefix(2)) == base }) else { return nil }
        let text = try required(base + ["endpoint"])
        guard let endpoint = URL(string: text), ["http", "https"].contains(endpoint.scheme ?? ""), endpoint.host != nil else {
            throw ConfigurationError("observability.otlp.endpoint", "must be an http or https URL, not '\(text)'")
        }
        let wire = try string(base + ["protocol"]) ?? "http/protobuf"
        guard wire == "http/protobuf" else {
            throw ConfigurationError("observability.otlp.protocol", "must be http/protobuf (the one this build exports), not '\(wire)'")
        }
        var headers: [String: Secret] = [:]
        for (path, _) in values.leaves where path.count > 3 && Array(path.prefix(3)) == base + ["headers"] {
            headers[path.dropFirst(3).joined(separator: ".")] = Secret(try required(path))
        }
        return ProvisionerConfiguration.OTLP(endpoint: endpoint, headers: headers)
    }

    func target(_ name: String) throws(ConfigurationError) -> ProvisionerConfiguration.Target {
        let base = ["targets", name]
        let vendorText = try required(base + ["vendor"])
        guard let vendor = VendorKind(rawValue: vendorText) else {
            throw ConfigurationError(
                key(base + ["vendor"]), "unknown vendor '\(vendorText)'; expected one of \(VendorKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let urlText = try required(base + ["baseURL"])
        guard let baseURL = URL(string: urlText), let scheme = baseURL.scheme, ["http", "https"].contains(scheme), baseURL.host != nil else {
            throw ConfigurationError(key(base + ["baseURL"]), "must be an http or https URL, not '\(urlText)'")
        }
        var credentials: [String: Secret] = [:]
        for field in children(base + ["credentials"]) {
            if let value = try string(base + ["credentials", field]) { credentials[field] = Secret(value) }
        }
        for field in ProvisionerConfiguration.requiredCredentials(vendor) where credentials[field]?.revealed.isEmpty ?? true {
            throw ConfigurationError(key(base + ["credentials", field]), "is required for \(vendor.rawValue)")
        }
        var tenant: [String: String] = [:]
        for field in children(base + ["tenant"]) { tenant[field] = try string(base + ["tenant", field]) }
        if vendor == .urac, tenant["id"] == nil, tenant["code"] == nil {
            throw ConfigurationError(key(base + ["tenant"]), "a urac target needs tenant.id or tenant.code")
        }
        let retry = ProvisionerConfiguration.Retry(
            maxAttempts: try int(base + ["retry", "maxAttempts"], default: 5, range: 1...100),
            initialBackoff: try duration(base + ["retry", "initialBackoff"], default: .milliseconds(200)),
            maxBackoff: try duration(base + ["retry", "maxBackoff"], default: .seconds(30))
        )
        var rateLimit: ProvisionerConfiguration.RateLimit?
        if let perSecondText = try string(base + ["rateLimit", "perSecond"]) {
            guard let perSecond = Double(perSecondText), perSecond > 0 else {
                throw ConfigurationError(key(base + ["rateLimit", "perSecond"]), "must be a positive number, not '\(perSecondText)'")
            }
            rateLimit = .init(perSecond: perSecond, burst: try int(base + ["rateLimit", "burst"], default: max(1, Int(perSecond)), range: 1...1_000_000))
        }
        return ProvisionerConfiguration.Target(
            name: name, vendor: vendor, baseURL: baseURL, credentials: credentials, tenant: tenant,
            timeout: try duration(base + ["timeout"], default: .seconds(10)), retry: retry, rateLimit: rateLimit,
            maxConcurrency: try int(base + ["maxConcurrency"], default: 64, range: 1...10_000)
        )
    }
}
