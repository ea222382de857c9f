import NIOCore
import NIOSSL

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// One keep-alive HTTP/1.1 connection to an origin, the last handler of its channel (after TLS
/// for https). It runs one request at a time: writes it whole with one flush, parses the answer
/// and resumes the caller from here, on the event loop, with no hop in between.
///
/// Threads: `eventLoop`, `run(_:)` and `abandon(_:)` may be used from anywhere; everything else
/// only on `eventLoop` (the channel's), which is what makes `@unchecked Sendable` sound.
///
/// Invariant: while the channel is open exactly one timer is scheduled or none has been needed
/// yet; it fires at the earliest of the running request's deadline and the idle deadline as
/// known when it was set, and on firing checks the state and sets itself again. Requests that
/// follow each other do not schedule one each.
///
/// The pool's count of this connection is given back once: by `closedWhileIdle` when it closes
/// while in the pool's idle list, otherwise by `release(_:reusable: false)` from here.
final class LeanHTTPConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let eventLoop: any EventLoop
    private let pool: LeanHTTPConnectionPool
    private let idleTimeout: TimeAmount

    private enum State {
        /// Free since then: in the pool's idle list, or being handed a request.
        case idle(since: NIODeadline)
        /// `reused`: the connection had answered before this request.
        case busy(LeanHTTPExchange, reused: Bool)
        /// Closed or closing: never used again.
        case closed
    }

    private var state = State.idle(since: .now())
    private var context: ChannelHandlerContext?
    private var parser = LeanHTTPResponseParser()
    private var answered = 0
    private var timer: Scheduled<Void>?
    private var timerDeadline = NIODeadline.distantFuture
    /// Why the channel is being closed, told to the request in flight when it is.
    private var failure: LeanHTTPError?

    init(eventLoop: any EventLoop, pool: LeanHTTPConnectionPool, idleTimeout: TimeAmount) {
        self.eventLoop = eventLoop
        self.pool = pool
        self.idleTimeout = idleTimeout
    }

    /// Sends `exchange`'s request on this connection, which the pool has just handed it.
    func run(_ exchange: LeanHTTPExchange) {
        if eventLoop.inEventLoop {
            start(exchange)
        } else {
            eventLoop.execute { self.start(exchange) }
        }
    }

    /// The caller gave up on `exchange` (cancelled): if it is still running here, the connection
    /// is closed, since a late answer could not be told apart from the next request's.
    func abandon(_ exchange: LeanHTTPExchange) {
        eventLoop.execute {
            guard case .busy(let current, _) = self.state, current === exchange else { return }
            self.failure = .cancelled
            self.context?.close(promise: nil)
        }
    }

    // MARK: requests, on the event loop

    private func start(_ exchange: LeanHTTPExchange) {
        if case .busy = state { preconditionFailure("the pool handed out a busy connection") }
        guard case .idle = state, let context else {
            // Closed after the pool handed it out, before anything was written: any request
            // may go again.
            pool.release(self, reusable: false)
            pool.failed(exchange, .connectionClosed, retry: .always)
            return
        }
        guard exchange.bind(to: self) else {
            // The call ended while it waited: the connection is free for the next one.
            pool.release(self, reusable: true)
            return
        }
        guard NIODeadline.now() < exchange.deadline else {
            exchange.finish(.failure(.timedOut))
            pool.release(self, reusable: true)
            return
        }
        state = .busy(exchange, reused: answered > 0)
        parser.begin(expectsBody: exchange.request.expectsResponseBody, maximumBodySize: exchange.maximumBodySize)
        context.writeAndFlush(wrapOutboundOut(exchange.request.bytes), promise: nil)
        arm(exchange.deadline)
    }

    private func complete(_ exchange: LeanHTTPExchange, _ response: LeanHTTPResponse, reusable: Bool) {
        answered += 1
        if reusable {
            let now = NIODeadline.now()
            state = .idle(since: now)
            arm(now + idleTimeout)
            // Given back before the caller resumes, so that its next call can find it.
            pool.release(self, reusable: true)
        } else {
            state = .closed
            pool.release(self, reusable: false)
            context?.close(promise: nil)
        }
        exchange.finish(.success(response))
    }

    // MARK: the deadline and idle timer

    private func arm(_ deadline: NIODeadline) {
        guard timer == nil || deadline < timerDeadline else { return }
        timer?.cancel()
        timerDeadline = deadline
        timer = eventLoop.scheduleTask(deadline: deadline) { self.timerFired() }
    }

    private func timerFired() {
        timer = nil
        timerDeadline = .distantFuture
        let now = NIODeadline.now()
        switch state {
        case .busy(let exchange, _):
            if now >= exchange.deadline {
                failure = .timedOut
                context?.close(promise: nil)
            } else {
                arm(exchange.deadline)
            }
        case .idle(let since):
            if now >= since + idleTimeout {
                context?.close(promise: nil)
            } else {
                arm(since + idleTimeout)
            }
        case .closed:
            break
        }
    }

    // MARK: ChannelInboundHandler

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .busy(let exchange, _) = state else {
            // Bytes nobody asked for: this connection's framing can no longer be trusted.
            if case .idle = state { context.close(promise: nil) }
            return
        }
        let progress: LeanHTTPResponseParser.Progress
        do {
            progress = try parser.receive(unwrapInboundIn(data))
        } catch {
            failure = failure ?? error
            context.close(promise: nil)
            return
        }
        if case .complete(let response, let reusable) = progress {
            complete(exchange, response, reusable: reusable && !parser.hasLeftover)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failure = failure ?? Self.failure(for: error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        let previous = state
        state = .closed
        switch previous {
        case .idle:
            pool.closedWhileIdle(self)
        case .closed:
            break
        case .busy(let exchange, let reused):
            pool.release(self, reusable: false)
            if failure == nil, case .complete(let response, _)? = try? parser.receiveEnd() {
                // A body framed by the connection's end.
                exchange.finish(.success(response))
            } else {
                let error = failure ?? .connectionClosed
                // Closed (or reset) before any byte of the answer, on a connection that had
                // answered before: most likely the server closed it idle before it read the request.
                let stale = reused && error == .connectionClosed && !parser.hasReceivedBytes
                pool.failed(exchange, error, retry: stale ? .ifIdempotent : .never)
            }
        }
        context.fireChannelInactive()
    }

    /// A channel error in the client's terms, without addresses beyond NIO's own words.
    static func failure(for error: any Error) -> LeanHTTPError {
        if let error = error as? NIOSSLError {
            if case .uncleanShutdown = error { return .connectionClosed }
            return .tls(String(String(describing: error).prefix(200)))
        }
        if let error = error as? IOError {
            switch error.errnoCode {
            case ECONNRESET, EPIPE, ECONNABORTED: return .connectionClosed
            default: return .io(String(String(describing: error).prefix(200)))
            }
        }
        if let error = error as? ChannelError {
            switch error {
            case .eof, .ioOnClosedChannel, .alreadyClosed, .outputClosed, .inputClosed: return .connectionClosed
            case .connectTimeout: return .timedOut
            default: return .io(String(String(describing: error).prefix(200)))
            }
        }
        if error is NIOSSLExtraError || error is BoringSSLError { return .tls(String(String(describing: error).prefix(200))) }
        return .io(String(String(describing: error).prefix(200)))
    }
}
