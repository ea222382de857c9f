/// What pause, resume and cancel do to a redrive: one small machine whose transitions return
/// the continuation to resume, resumed by the caller outside the lock.
struct RedriveControl {
    enum State: Equatable {
        case running, paused, cancelled
    }

    private(set) var state = State.running
    /// The sender, waiting while paused.
    private var waiter: CheckedContinuation<Void, Never>?

    /// True when it was running (a second pause changes nothing).
    mutating func pause() -> Bool {
        guard state == .running else { return false }
        state = .paused
        return true
    }

    /// Nil when it was not paused; else the waiting sender to wake, if it waits already.
    mutating func resume() -> CheckedContinuation<Void, Never>?? {
        guard state == .paused else { return nil }
        state = .running
        defer { waiter = nil }
        return .some(waiter)
    }

    /// Final: nothing more is sent. The waiting sender to wake, if any.
    mutating func cancel() -> CheckedContinuation<Void, Never>? {
        guard state != .cancelled else { return nil }
        state = .cancelled
        defer { waiter = nil }
        return waiter
    }

    /// The sender waits while paused: true when `continuation` is kept, to be resumed by
    /// `resume()` or `cancel()`; false when no longer paused (resume it at once).
    mutating func park(_ continuation: CheckedContinuation<Void, Never>) -> Bool {
        guard state == .paused else { return false }
        waiter = continuation
        return true
    }
}
