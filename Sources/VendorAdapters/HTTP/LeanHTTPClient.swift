import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// A small HTTP/1.1 client for vendor calls, on SwiftNIO: a keep-alive pool per origin, each
/// request encoded into one buffer and written with one flush, the answer parsed in the
/// connection's handler, which resumes the caller directly (one hop to the event loop, one back).
/// One timer per connection, not per request, enforces deadlines and idle timeouts.
///
/// What it does not do: redirects (a 3xx is the answer), cookies, compression, proxies, HTTP/2,
/// `Expect: 100-continue`, request pipelining. TLS verifies certificates and sends SNI
/// (`TLSConfiguration.makeClientConfiguration()` unless configured otherwise).
///
/// Threads: any; the state is behind locks. Call `shutdown()` before dropping it: until then
/// idle connections stay open until their idle timeout.
public final class LeanHTTPClient: Sendable {
    public struct Configuration: Sendable {
        /// Connections per origin at most. Nil: as many as a call asks for (`VendorHTTPClient`
        /// asks for its target's `maxConcurrency`, so that no call spends its timeout queueing).
        public var maximumConnectionsPerOrigin: Int?
        /// A free connection is closed after this long unused.
        public var idleTimeout: Duration
        /// For https origins. Certificates are verified and SNI sent by default.
        public var tls: TLSConfiguration

        public init(maximumConnectionsPerOrigin: Int? = nil, idleTimeout: Duration = .seconds(60), tls: TLSConfiguration = .makeClientConfiguration()) {
            self.maximumConnectionsPerOrigin = maximumConnectionsPerOrigin.map { max(1, $0) }
            self.idleTimeout = idleTimeout
            self.tls = tls
        }
    }

    private let group: any EventLoopGroup
    private let configuration: Configuration

    private struct State {
        var endpoints: [String: LeanHTTPEndpoint] = [:]
        var pools: [LeanHTTPOrigin: LeanHTTPConnectionPool] = [:]
        /// Made with the first https origin, shared by all.
        var tls: NIOSSLContext?
        var isShutDown = false
    }

    private let state = Mutex(State())

    /// On `MultiThreadedEventLoopGroup.singleton` by default, the event loops NIO and
    /// AsyncHTTPClient share (and Swift Concurrency's executor, if it was installed as such).
    public init(eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, configuration: Configuration = Configuration()) {
        self.group = eventLoopGroup
        self.configuration = configuration
    }

    /// Closes every connection; calls waiting for one fail, later calls too.
    public func shutdown() async {
        let pools = state.withLock { state in
            state.isShutDown = true
            return Array(state.pools.values)
        }
        for pool in pools { await pool.shutdown() }
    }

    /// The endpoint of `baseURL`, made once and cached.
    func endpoint(for baseURL: String) throws(LeanHTTPError) -> LeanHTTPEndpoint {
        if let endpoint = state.withLock({ $0.endpoints[baseURL] }) { return endpoint }
        let (origin, basePath) = try LeanHTTPOrigin.parse(baseURL)
        let made = state.withLock { state -> Result<LeanHTTPEndpoint, LeanHTTPError> in
            guard !state.isShutDown else { return .failure(.shutDown) }
            if let endpoint = state.endpoints[baseURL] { return .success(endpoint) }
            let pool: LeanHTTPConnectionPool
            if let existing = state.pools[origin] {
                pool = existing
            } else {
                var tls: NIOSSLContext?
                if origin.isSecure {
                    if state.tls == nil {
                        do {
                            state.tls = try NIOSSLContext(configuration: configuration.tls)
                        } catch {
                            return .failure(.tls(String(String(describing: error).prefix(200))))
                        }
                    }
                    tls = state.tls
                }
                pool = LeanHTTPConnectionPool(
                    origin: origin, group: group, tls: tls, idleTimeout: TimeAmount(configuration.idleTimeout),
                    maximumConnections: configuration.maximumConnectionsPerOrigin)
                state.pools[origin] = pool
            }
            let endpoint = LeanHTTPEndpoint(pool: pool, hostHeader: origin.hostHeader, basePath: Array(basePath.utf8))
            state.endpoints[baseURL] = endpoint
            return .success(endpoint)
        }
        return try made.get()
    }

    /// Sends `request` to `endpoint`'s origin and reads the whole answer, all within `timeout`
    /// (waiting for a connection, connecting, TLS, writing, reading). `connectionLimit`: how many
    /// connections the origin's pool may open (within the configured maximum).
    func execute(
        _ request: LeanHTTPRequest, on endpoint: LeanHTTPEndpoint, timeout: Duration, connectionLimit: Int, maximumBodySize: Int
    ) async throws(LeanHTTPError) -> LeanHTTPResponse {
        let exchange = LeanHTTPExchange(
            request: request, deadline: .now() + TimeAmount(timeout), maximumBodySize: maximumBodySize, connectionLimit: max(1, connectionLimit))
        let pool = endpoint.pool
        // The continuation is resumed by the connection's handler on its event loop (or by the
        // pool, the deadline or the cancellation handler), exactly once: `LeanHTTPExchange`'s invariant.
        let result = await withTaskCancellationHandler {
            await withUnsafeContinuation { continuation in
                if exchange.install(continuation) { pool.submit(exchange) }
            }
        } onCancel: {
            exchange.cancel()
        }
        return try result.get()
    }
}
