import Synchronization

/// A command's place in a target's line, from `TargetGuards.admit` when the target cannot take
/// the call now. It is woken exactly once: when a slot (with its rate-limit token, or the
/// breaker's probe) is granted to it, or when its deadline has passed. The command then steps
/// again with the ticket, which either uses the grant or gives up.
///
/// Nothing polls: whoever waits hands `onWake` what to do, and the guards call it.
public final class TargetTicket: Sendable {
    private enum Wake {
        case waiting
        case armed(@Sendable () -> Void)
        case woken
    }

    private struct State {
        var wake = Wake.waiting
        /// Set by the guards, under their lock, before they wake the ticket: the slot is the
        /// ticket's, counted as running, until it is used (`admit`) or given back (`release`).
        var granted = false
        /// Why the ticket waits, for logs and the final message when it gives up.
        var reason: String
    }

    /// The ticket gives up at this instant; nil waits for as long as it takes.
    let deadline: ContinuousClock.Instant?
    private let state: Mutex<State>

    init(deadline: ContinuousClock.Instant?, reason: String) {
        self.deadline = deadline
        self.state = Mutex(State(reason: reason))
    }

    /// Why the ticket waits (or waited).
    public var reason: String { state.withLock { $0.reason } }

    /// Calls `body` once the ticket is woken: at once if it already was. `body` runs on the
    /// waking thread (a call's completion, or a timer) and must not block. Call at most once.
    public func onWake(_ body: @escaping @Sendable () -> Void) {
        let now = state.withLock { state -> Bool in
            if case .woken = state.wake { return true }
            state.wake = .armed(body)
            return false
        }
        if now { body() }
    }

    /// Called by the guards (outside their lock) exactly once.
    func wake() {
        let body = state.withLock { state -> (@Sendable () -> Void)? in
            defer { state.wake = .woken }
            if case .armed(let body) = state.wake { return body }
            return nil
        }
        body?()
    }

    func grant() { state.withLock { $0.granted = true } }

    /// Whether a grant was waiting to be used; it is used (or given back) by this call.
    func takeGrant() -> Bool {
        state.withLock { state in
            defer { state.granted = false }
            return state.granted
        }
    }

    func giveUp(because reason: String) { state.withLock { $0.reason = reason } }
}
