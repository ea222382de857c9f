import NIOCore
import Synchronization

/// One call of `LeanHTTPClient`, from its caller to its answer: the bytes to send, the deadline
/// and the caller's continuation.
///
/// Invariant: the continuation is resumed exactly once, by whichever comes first of the answer,
/// a failure, the deadline or the caller's cancellation; `finish` takes it out under the lock and
/// resumes it outside, so a later `finish` finds nothing to resume. Shared between the calling
/// task (install, cancel), the pool (waiting) and one connection's event loop at a time.
final class LeanHTTPExchange: Sendable {
    typealias Continuation = UnsafeContinuation<Result<LeanHTTPResponse, LeanHTTPError>, Never>

    let request: LeanHTTPRequest
    let deadline: NIODeadline
    let maximumBodySize: Int
    /// Asked of the pool (`LeanHTTPConnectionPool.submit(_:limit:)`): kept for a retry.
    let connectionLimit: Int

    private struct State {
        var continuation: Continuation?
        var finished = false
        /// The connection that runs the request, so that a cancellation can drop it.
        var connection: LeanHTTPConnection?
        var retried = false
    }

    private let state = Mutex(State())

    init(request: LeanHTTPRequest, deadline: NIODeadline, maximumBodySize: Int, connectionLimit: Int) {
        self.request = request
        self.deadline = deadline
        self.maximumBodySize = maximumBodySize
        self.connectionLimit = connectionLimit
    }

    var isFinished: Bool { state.withLock { $0.finished } }

    /// From the caller's task, once. False when the call was cancelled before: the continuation
    /// has been resumed with `.cancelled` then, and nothing is to be sent.
    func install(_ continuation: Continuation) -> Bool {
        let installed = state.withLock { state in
            guard !state.finished else { return false }
            state.continuation = continuation
            return true
        }
        if !installed { continuation.resume(returning: .failure(.cancelled)) }
        return installed
    }

    /// On `connection`'s event loop, before the request is written. False when the call is over
    /// (cancelled, or timed out while it waited for a connection): the connection stays free.
    func bind(to connection: LeanHTTPConnection) -> Bool {
        state.withLock { state in
            guard !state.finished else { return false }
            state.connection = connection
            return true
        }
    }

    /// Resumes the caller with `result` unless the call is already over.
    func finish(_ result: Result<LeanHTTPResponse, LeanHTTPError>) {
        let continuation = state.withLock { state -> Continuation? in
            guard !state.finished else { return nil }
            state.finished = true
            state.connection = nil
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume(returning: result)
    }

    /// From the caller's cancellation handler, on any thread: ends the call with `.cancelled`
    /// and has the connection that runs it (if any) closed, since its answer can no longer be
    /// told apart from the next request's.
    func cancel() {
        let (continuation, connection) = state.withLock { state -> (Continuation?, LeanHTTPConnection?) in
            guard !state.finished else { return (nil, nil) }
            state.finished = true
            defer {
                state.continuation = nil
                state.connection = nil
            }
            return (state.continuation, state.connection)
        }
        connection?.abandon(self)
        continuation?.resume(returning: .failure(.cancelled))
    }

    /// True the first time only: an idempotent request is sent again once at most.
    func takeRetry() -> Bool {
        state.withLock { state in
            defer { state.retried = true }
            return !state.retried
        }
    }
}
