import AsyncHTTPClient
import Foundation
import Logging
import Provisioning
import ProvisioningContract
import VendorAdapters
import VendorSimulators

/// A simulator on a free port and the four adapters pointed at it, with the simulator's default
/// credentials: the vendors as the worker sees them, over real HTTP.
struct Vendors: Sendable {
    let simulator: VendorSimulator
    let server: SimulatorServer
    let http: HTTPClient
    let adapters: [VendorKind: any VendorAdapter]

    static let credentials: [VendorKind: [String: Secret]] = [
        .tecs: ["username": Secret("User1"), "password": Secret("Password1")],
        .urac: ["key": Secret("urac-simulator-key"), "accessToken": Secret("urac-simulator-token")],
        .servicemobility: ["username": Secret("smadmin"), "password": Secret("smpassword")],
        .asms: ["username": Secret("asmsadmin"), "password": Secret("asmspassword")],
    ]
    static let prefixes: [VendorKind: String] = [
        .tecs: "/usermanagement-backofficews", .urac: "/urac", .servicemobility: "/seiapi/v3", .asms: "/ASMSAPI",
    ]

    /// Runs `body` with fresh vendors and tears them down, whatever happens.
    static func with<T: Sendable>(_ body: (Vendors) async throws -> T) async throws -> T {
        var logger = Logger(label: "test.vendors")
        logger.logLevel = .error
        let simulator = VendorSimulator()
        return try await SimulatorServer.withRunning(simulator, port: 0, logger: logger) { server in
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            let vendors = Vendors(
                simulator: simulator, server: server, http: http,
                adapters: Adapters.all(http: VendorHTTPClient(client: http, logger: logger))
            )
            do {
                let result = try await body(vendors)
                await vendors.shutdown()
                return result
            } catch {
                await vendors.shutdown()
                throw error
            }
        }
    }

    func shutdown() async {
        try? await http.shutdown()
    }

    func target(_ vendor: VendorKind, timeout: Duration = .seconds(30), baseURL: String? = nil) -> ProvisioningTarget {
        ProvisioningTarget(
            name: "\(vendor.rawValue)-test", vendor: vendor, baseURL: baseURL ?? server.baseURL + Self.prefixes[vendor]!,
            credentials: Self.credentials[vendor]!,
            tenant: vendor == .urac ? ["id": "5551aca9e179c39b760f7a1a", "code": "DBTN"] : [:], timeout: timeout
        )
    }

    func perform(_ command: ProvisioningCommand, on vendor: VendorKind) async -> AdapterOutcome {
        await adapters[vendor]!.perform(command, for: target(vendor))
    }

    func users(_ vendor: SimulatedVendor) -> [[String: JSONValue]] {
        simulator.users(vendor).compactMap { value in
            if case .object(let object) = value { return object }
            return nil
        }
    }
}

/// Commands as upstream systems would publish them, decoded by the real decoder.
func command(_ json: String) throws -> ProvisioningCommand {
    try CommandDecoder.decode(Array(json.utf8)).get()
}

extension AdapterOutcome {
    var failure: AdapterFailure? {
        if case .failed(let failure) = self { return failure }
        return nil
    }

    var vendorUserId: String? {
        switch self {
        case .succeeded(let id, _, _): id
        case .failed(let failure): failure.vendorUserId
        }
    }

    var data: JSONValue? {
        if case .succeeded(_, let data, _) = self { return data }
        return nil
    }

    var vendorResponse: VendorResponse? {
        switch self {
        case .succeeded(_, _, let response): response
        case .failed(let failure): failure.vendorResponse
        }
    }

    var succeeded: Bool { failure == nil }
}
