import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// The keep-alive connections to one origin, at most `limit` of them, made on demand and reused
/// last-in first-out (the most recently used stays warm; the rest reach their idle timeout and
/// close). Calls beyond the limit wait in order for a connection to be given back.
///
/// Threads: any. The state is behind one lock, never held while a connection runs a request or
/// a continuation is resumed. Connections call back (`release`, `closedWhileIdle`, `failed`) on
/// their event loops.
final class LeanHTTPConnectionPool: Sendable {
    /// How a failed request may be sent again, on a fresh connection, once.
    enum Retry {
        case never
        /// The request may have reached the server: only a method that may be repeated.
        case ifIdempotent
        /// Nothing was written: any method.
        case always
    }

    let origin: LeanHTTPOrigin
    private let group: any EventLoopGroup
    private let tls: NIOSSLContext?
    private let idleTimeout: TimeAmount
    /// The configured cap on connections, whatever the calls ask for.
    private let maximumConnections: Int?

    private struct State {
        /// Last released last: `popLast()` takes the warmest.
        var idle: [LeanHTTPConnection] = []
        /// Connections open or being made, idle or busy.
        var open = 0
        /// The largest limit a call has asked for, within `maximumConnections`.
        var limit = 1
        var waiters = CircularBuffer<LeanHTTPExchange>()
        var channels: [ObjectIdentifier: any Channel] = [:]
        var isShutDown = false
    }

    private let state = Mutex(State())

    init(origin: LeanHTTPOrigin, group: any EventLoopGroup, tls: NIOSSLContext?, idleTimeout: TimeAmount, maximumConnections: Int?) {
        self.origin = origin
        self.group = group
        self.tls = tls
        self.idleTimeout = idleTimeout
        self.maximumConnections = maximumConnections
    }

    private enum Action {
        case run(LeanHTTPConnection, LeanHTTPExchange)
        case connect(LeanHTTPExchange)
        case wait(LeanHTTPExchange)
        case fail(LeanHTTPExchange, LeanHTTPError)
        case none
    }

    /// Runs `exchange` on an idle connection, a new one, or the next one given back.
    /// `fresh`: not on an idle one (they may all have been closed by the server).
    func submit(_ exchange: LeanHTTPExchange, fresh: Bool = false) {
        let action = state.withLock { state -> Action in
            guard !state.isShutDown else { return .fail(exchange, .shutDown) }
            state.limit = max(state.limit, min(exchange.connectionLimit, maximumConnections ?? .max))
            if !fresh, let connection = state.idle.popLast() { return .run(connection, exchange) }
            if state.open < state.limit {
                state.open += 1
                return .connect(exchange)
            }
            state.waiters.append(exchange)
            return .wait(exchange)
        }
        perform(action)
    }

    /// From a connection, on its event loop, when its request is over: `reusable` when it can
    /// take another, else it is closing and its place goes to a waiter, if any.
    func release(_ connection: LeanHTTPConnection, reusable: Bool) {
        let action = state.withLock { state -> Action in
            if !reusable || state.isShutDown {
                state.open -= 1
                state.channels[ObjectIdentifier(connection)] = nil
                return nextWaiterConnects(&state)
            }
            if let waiter = nextWaiter(&state) { return .run(connection, waiter) }
            state.idle.append(connection)
            return .none
        }
        perform(action)
    }

    /// From a connection that closed while free (the server closed it idle, or its idle timeout).
    func closedWhileIdle(_ connection: LeanHTTPConnection) {
        let action = state.withLock { state -> Action in
            // Not in the list: it was handed out meanwhile, and `start` will give it back.
            guard let index = state.idle.firstIndex(where: { $0 === connection }) else { return .none }
            state.idle.remove(at: index)
            state.open -= 1
            state.channels[ObjectIdentifier(connection)] = nil
            return nextWaiterConnects(&state)
        }
        perform(action)
    }

    /// A request failed on a connection: sent again on a fresh one when `retry` allows and it
    /// has not been sent again before, else the caller gets `error`.
    func failed(_ exchange: LeanHTTPExchange, _ error: LeanHTTPError, retry: Retry) {
        let again =
            switch retry {
            case .never: false
            case .ifIdempotent: exchange.request.isIdempotent
            case .always: true
            }
        if again && !exchange.isFinished && exchange.takeRetry() {
            submit(exchange, fresh: true)
        } else {
            exchange.finish(.failure(error))
        }
    }

    /// Closes every connection and fails the calls waiting for one. Calls running end with
    /// `connectionClosed`; calls made afterwards with `shutDown`.
    func shutdown() async {
        let (waiters, channels) = state.withLock { state in
            state.isShutDown = true
            state.idle = []
            defer {
                state.waiters = []
                state.channels = [:]
            }
            return (Array(state.waiters), Array(state.channels.values))
        }
        for waiter in waiters { waiter.finish(.failure(.shutDown)) }
        for channel in channels { try? await channel.close() }
    }

    // MARK: private

    private func nextWaiter(_ state: inout State) -> LeanHTTPExchange? {
        while let waiter = state.waiters.popFirst() {
            if !waiter.isFinished { return waiter }
        }
        return nil
    }

    private func nextWaiterConnects(_ state: inout State) -> Action {
        guard !state.isShutDown, state.open < state.limit, let waiter = nextWaiter(&state) else { return .none }
        state.open += 1
        return .connect(waiter)
    }

    private func perform(_ action: Action) {
        switch action {
        case .run(let connection, let exchange): connection.run(exchange)
        case .connect(let exchange): connect(for: exchange)
        case .wait(let exchange):
            // Rare (more calls than connections allowed): a timer per waiting call is affordable.
            group.any().scheduleTask(deadline: exchange.deadline) { self.expire(exchange) }
        case .fail(let exchange, let error): exchange.finish(.failure(error))
        case .none: break
        }
    }

    /// A waiting call's deadline passed before a connection was free.
    private func expire(_ exchange: LeanHTTPExchange) {
        let waited = state.withLock { state -> Bool in
            guard let index = state.waiters.firstIndex(where: { $0 === exchange }) else { return false }
            state.waiters.remove(at: index)
            return true
        }
        if waited { exchange.finish(.failure(.timedOut)) }
    }

    /// Makes a connection (its place in `open` already taken) and runs `exchange` on it.
    private func connect(for exchange: LeanHTTPExchange) {
        let remaining = exchange.deadline - .now()
        guard remaining > .zero else {
            connectFailed(exchange, .timedOut)
            return
        }
        let eventLoop = group.any()
        let connection = LeanHTTPConnection(eventLoop: eventLoop, pool: self, idleTimeout: idleTimeout)
        let tls = tls
        let serverName = origin.serverName
        ClientBootstrap(group: eventLoop)
            .connectTimeout(remaining)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                    try channel.pipeline.syncOperations.addHandler(connection)
                }
            }
            .connect(host: origin.host, port: origin.port)
            .whenComplete { result in
                switch result {
                case .success(let channel): self.connected(connection, channel: channel, exchange: exchange)
                case .failure(let error): self.connectFailed(exchange, Self.connectFailure(error))
                }
            }
    }

    /// On the new channel's event loop.
    private func connected(_ connection: LeanHTTPConnection, channel: any Channel, exchange: LeanHTTPExchange) {
        let isShutDown = state.withLock { state in
            if !state.isShutDown { state.channels[ObjectIdentifier(connection)] = channel }
            return state.isShutDown
        }
        guard !isShutDown else {
            channel.close(promise: nil)
            release(connection, reusable: false)
            exchange.finish(.failure(.shutDown))
            return
        }
        connection.run(exchange)
    }

    private func connectFailed(_ exchange: LeanHTTPExchange, _ error: LeanHTTPError) {
        let action = state.withLock { state -> Action in
            state.open -= 1
            return nextWaiterConnects(&state)
        }
        exchange.finish(.failure(error))
        perform(action)
    }

    private static func connectFailure(_ error: any Error) -> LeanHTTPError {
        if let error = error as? ChannelError, case .connectTimeout = error { return .timedOut }
        // NIO's connection errors name the host, port and errno, never a path or a header.
        return .connectFailed(String(String(describing: error).prefix(200)))
    }
}
