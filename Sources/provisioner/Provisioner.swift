import ArgumentParser

@main
struct Provisioner: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provisioner",
        abstract: "Provisions user accounts into vendor systems from Kafka.",
        subcommands: [Broker.self, Dev.self]
    )
}
