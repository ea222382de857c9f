import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import VendorSimulators

/// `provisioner simulate`: the four vendor simulators on one port (contract section 8, docs/vendors.md),
/// so the worker can be tried without vendor accounts. Runs until SIGINT or SIGTERM.
struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the four vendor simulators on one port.",
        discussion: """
            Serves tecs under /usermanagement-backofficews, urac under /urac, servicemobility under /seiapi/v3 \
            and asms under /ASMSAPI, with the /_sim/ control API. Prints its base URL as the first line of \
            standard output; default credentials are in config/simulator.env.
            """
    )

    @Option(help: "Port to listen on (0 = any free port).")
    var port: Int = 8080

    @Option(help: "Address to bind.")
    var host: String = "127.0.0.1"

    @Option(name: .customLong("latency"), help: ArgumentHelp("Latency added to every vendor call.", valueName: "ms"))
    var latencyMs: Int = 0

    @Option(name: .customLong("failure-rate"), help: ArgumentHelp("Fraction (0 to 1) of vendor calls that fail.", valueName: "fraction"))
    var failureRate: Double = 0

    @Option(name: .customLong("failure-status"), help: "HTTP status of the failing calls (500, 503 or 429; Retry-After on 429/503).")
    var failureStatus: Int = 503

    @Option(name: .customLong("stall"), help: ArgumentHelp("Stall before answering every vendor call.", valueName: "ms"))
    var stallMs: Int = 0

    @Option(name: .customLong("stall-rate"), help: ArgumentHelp("Fraction (0 to 1) of vendor calls that stall.", valueName: "fraction"))
    var stallRate: Double = 1

    @Option(name: .customLong("down"), help: ArgumentHelp("A vendor that answers every call 503 (repeatable).", valueName: "vendor"))
    var down: [String] = []

    @Option(name: .customLong("urac-error-status"), help: "HTTP status of URAC errors: 200 (soajs 2.x) or 500 (3.x).")
    var uracErrorStatus: Int = 200

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard !host.isEmpty else { throw ValidationError("--host must not be empty") }
        guard latencyMs >= 0 else { throw ValidationError("--latency must be 0 or more milliseconds") }
        guard (0...1).contains(failureRate) else { throw ValidationError("--failure-rate must be between 0 and 1") }
        guard (400...599).contains(failureStatus) else { throw ValidationError("--failure-status must be an HTTP error status (400 to 599)") }
        guard stallMs >= 0 else { throw ValidationError("--stall must be 0 or more milliseconds") }
        guard (0...1).contains(stallRate) else { throw ValidationError("--stall-rate must be between 0 and 1") }
        for name in down where SimulatedVendor(rawValue: name.lowercased()) == nil {
            throw ValidationError("--down: unknown vendor '\(name)' (tecs, urac, servicemobility, asms)")
        }
        guard uracErrorStatus == 200 || (400...599).contains(uracErrorStatus) else {
            throw ValidationError("--urac-error-status must be 200 or an HTTP error status (e.g. 500)")
        }
    }

    func run() async throws {
        let logger = Logger(label: "provisioner.simulate")
        let faults = SimulatorFaults(latencyMs: latencyMs, failureRate: failureRate, failureStatus: failureStatus, stallMs: stallMs, stallRate: stallRate)
        let downVendors = Set(down.compactMap { SimulatedVendor(rawValue: $0.lowercased()) })
        var byVendor: [SimulatedVendor: SimulatorFaults] = [:]
        for vendor in SimulatedVendor.allCases {
            var each = faults
            each.down = downVendors.contains(vendor)
            byVendor[vendor] = each
        }
        let simulator = VendorSimulator(faultsByVendor: byVendor, uracErrorStatus: uracErrorStatus)
        let prefixes = SimulatedVendor.allCases.map { "\($0.rawValue) \($0.pathPrefix)" }.joined(separator: ", ")
        let listened = Atomic(false)
        let server = SimulatorServer.service(simulator, host: host, port: port, logger: logger) { server in
            listened.store(true, ordering: .releasing)
            Console.line("simulators: \(server.baseURL) (\(prefixes))")
        }
        // Stops on SIGTERM or SIGINT; calls in flight get a second to finish.
        var configuration = ServiceGroupConfiguration(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = .seconds(1)
        do {
            try await ServiceGroup(configuration: configuration).run()
        } catch  where !listened.load(ordering: .acquiring) {
            logger.error("simulators could not start", metadata: ["host": "\(host)", "port": "\(port)", "error": "\(error)"])
            throw ExitCode(69)
        }
    }
}
