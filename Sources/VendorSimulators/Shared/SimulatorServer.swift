import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// A running simulator HTTP server, for `provisioner simulate` and for tests (port 0 = any free port).
/// All four vendors and the `/_sim/` controls share its one port.
public struct SimulatorServer: Sendable {
    /// The port the server listens on (the one chosen by the system when started with port 0).
    public let port: Int
    /// The host the server was bound to.
    public let host: String

    /// `http://<host>:<port>`; the vendors live under their prefixes (`/usermanagement-backofficews`, ...).
    public var baseURL: String { "http://\(host):\(port)" }

    /// The server as a `Service`, for a `ServiceGroup` of the caller's (`provisioner simulate`,
    /// which stops on its signals): `listening` is called once it listens; `run()` throws when
    /// it cannot bind.
    public static func service(
        _ simulator: VendorSimulator, host: String = "127.0.0.1", port: Int = 8080, logger: Logger,
        listening: @escaping @Sendable (SimulatorServer) -> Void
    ) -> some Service {
        Application(
            responder: SimulatorResponder(simulator: simulator, logger: logger),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port)),
            onServerRunning: { channel in listening(SimulatorServer(port: channel.localAddress?.port ?? port, host: host)) },
            logger: logger
        )
    }

    /// Serves `simulator` while `body` runs, and stops when it returns or throws: in-flight calls
    /// get a second to finish, stalled ones are then cancelled. Throws when it cannot bind. The
    /// server runs in a child task of this call: nothing of it outlives the call.
    public static func withRunning<T: Sendable>(
        _ simulator: VendorSimulator, host: String = "127.0.0.1", port: Int = 8080, logger: Logger, _ body: (SimulatorServer) async throws -> T
    ) async throws -> T {
        let (bound, announce) = AsyncStream<Int>.makeStream()
        let app = service(simulator, host: host, port: port, logger: logger) { announce.yield($0.port) }
        var configuration = ServiceGroupConfiguration(services: [app], logger: logger)
        configuration.maximumGracefulShutdownDuration = .seconds(1)
        let group = ServiceGroup(configuration: configuration)
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                defer { announce.finish() }
                try await group.run()
            }
            var listening: Int?
            for await port in bound {
                listening = port
                break
            }
            guard let listening else {
                // The server ended before it listened: its error (a port taken, say) says why.
                try await tasks.waitForAll()
                throw SimulatorServerError.notStarted
            }
            do {
                let result = try await body(SimulatorServer(port: listening, host: host))
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return result
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
        }
    }
}

/// Why `SimulatorServer.withRunning` failed without an error of its own.
public enum SimulatorServerError: Error, Sendable {
    case notStarted
}

/// Routes every request: `/_sim/` to the controls, each vendor prefix through the faults to its vendor.
struct SimulatorResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let simulator: VendorSimulator
    let logger: Logger

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        var request = request
        let buffer = try await request.collectBody(upTo: 4 * 1024 * 1024)
        let path = request.uri.path
        var headers: [String: String] = [:]
        for field in request.headers {
            let name = field.name.canonicalName
            headers[name] = headers[name].map { "\($0), \(field.value)" } ?? field.value
        }
        let segments = path.split(separator: "/").map { FormDecoding.decode($0, plusIsSpace: false) }
        var simRequest = SimRequest(
            method: request.method.rawValue, segments: segments, query: FormDecoding.query(request.uri.query),
            headers: headers, body: Array(buffer.readableBytesView)
        )
        let answer = await route(&simRequest)
        // Method, path and status only: bodies carry passwords and queries carry access tokens.
        logger.debug("simulator call", metadata: ["method": "\(simRequest.method)", "path": "\(path)", "status": "\(answer.status)"])
        var fields = HTTPFields()
        for (name, value) in answer.headers {
            switch name {
            case "Content-Type": fields[.contentType] = value
            case "Retry-After": fields[.retryAfter] = value
            default: break
            }
        }
        return Response(
            status: HTTPResponse.Status(code: answer.status), headers: fields,
            body: ResponseBody(byteBuffer: ByteBuffer(string: answer.body))
        )
    }

    func route(_ request: inout SimRequest) async -> SimResponse {
        guard let first = request.segments.first else { return .text(404, "not found") }
        if first == "_sim" {
            request.segments.removeFirst()
            return Controls.handle(request, simulator: simulator)
        }
        guard let vendor = SimulatedVendor.allCases.first(where: { matches(first, $0) }) else { return .text(404, "not found") }
        request.segments.removeFirst(vendor.pathPrefix.split(separator: "/").count)
        let call = request
        // Token endpoints: never faulted, never counted as call calls.
        switch vendor {
        case .servicemobility where ServiceMobility.isTokenCall(call):
            return simulator.withState { ServiceMobility.createToken(call, state: &$0) }
        case .asms where ASMS.isTokenCall(call):
            return simulator.withState { ASMS.createToken(call, state: &$0) }
        default: break
        }
        let faults = simulator.withState { state in
            state.countCall(vendor)
            state.observeTraceparent(call.header("traceparent"))
            return state.faults[vendor] ?? SimulatorFaults()
        }
        if let answer = await apply(faults) { return answer }
        return simulator.withState { state in
            if let code = state.popQueuedError(vendor) {
                return switch vendor {
                case .tecs: TECS.queuedError(code)
                case .urac: URAC.queuedError(code, request: call, status: state.uracErrorStatus)
                case .servicemobility: ServiceMobility.queuedError(code)
                case .asms: ASMS.queuedError(code)
                }
            }
            return switch vendor {
            case .tecs: TECS.handle(call, store: &state.tecs)
            case .urac: URAC.handle(call, state: &state)
            case .servicemobility: ServiceMobility.handle(call, state: &state)
            case .asms: ASMS.handle(call, state: &state)
            }
        }
    }

    /// The vendor's first path segment: exact, except ASMS whose IIS paths are matched in any case.
    func matches(_ segment: String, _ vendor: SimulatedVendor) -> Bool {
        let prefix = vendor.pathPrefix.split(separator: "/").first.map(String.init) ?? ""
        return vendor == .asms ? segment.lowercased() == prefix.lowercased() : segment == prefix
    }

    /// Down, stall, latency and random failure, in that order; nil lets the vendor answer.
    func apply(_ faults: SimulatorFaults) async -> SimResponse? {
        var retryAfter: [(String, String)] { [("Retry-After", String(faults.retryAfterSeconds))] }
        if faults.down {
            var answer = SimResponse.text(503, "vendor down")
            answer.headers += retryAfter
            return answer
        }
        let stalls = faults.stallMs > 0 && (faults.stallRate >= 1 || Double.random(in: 0..<1) < faults.stallRate)
        let delay = (stalls ? faults.stallMs : 0) + faults.latencyMs
        if delay > 0 {
            do {
                try await Task.sleep(for: .milliseconds(delay))
            } catch {
                return .text(503, "simulator stopping")
            }
        }
        if faults.failureRate > 0, Double.random(in: 0..<1) < faults.failureRate {
            var answer = SimResponse.text(faults.failureStatus, "simulated failure")
            if faults.failureStatus == 429 || faults.failureStatus == 503 { answer.headers += retryAfter }
            return answer
        }
        return nil
    }
}
