import Foundation
import Synchronization

/// Where log lines go: a buffer that callers append to under a short lock, drained by one
/// thread of its own that makes the `write(2)` calls. A task logging on the cooperative pool
/// then never waits for a syscall, nor for another task's.
///
/// Lines are written whole and in the order they were appended, never dropped. The writer takes
/// everything buffered at once; once the buffer is empty it lingers for `linger` (lines that
/// arrive meanwhile wake no one: the writer comes back for them), then sleeps until a line
/// arrives. So a busy process wakes the writer about once per `linger`, not once per line (a
/// futex wake and a context switch each), and an idle one not at all. Past `limit` buffered
/// bytes (the descriptor is slower than the loggers for a long while) a caller waits until the
/// writer has caught up. `flush()` writes what is buffered before the process exits.
public final class LogOutput: Sendable {
    private enum Writer {
        case busy, lingering, sleeping
    }

    private struct State {
        var buffer: [UInt8] = []
        var writer = Writer.busy
        /// Callers waiting for the buffer to be written out: `flush()`, and writers over the limit.
        var waiting: [DispatchSemaphore] = []
    }

    private let descriptor: Int32
    private let limit: Int
    private let linger: DispatchTimeInterval
    private let state: Mutex<State>
    /// Signalled when a line arrives while the writer sleeps, and by a flush.
    private let wake = DispatchSemaphore(value: 0)
    private let signals = Atomic<Int>(0)
    private let wakes = Atomic<Int>(0)

    /// Standard error, with its writer thread started on first use.
    public static let standardError = LogOutput(descriptor: 2)

    /// `linger`: how long the writer waits for more lines after writing before it sleeps, the
    /// most a line waits in the buffer while lines keep coming.
    public init(descriptor: Int32, limit: Int = 8 << 20, linger: Duration = .milliseconds(2)) {
        self.descriptor = descriptor
        self.limit = limit
        let (seconds, attoseconds) = linger.components
        self.linger = .nanoseconds(Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))
        var buffer: [UInt8] = []
        buffer.reserveCapacity(Self.initialCapacity)
        self.state = Mutex(State(buffer: buffer))
        let thread = Thread { [self] in drain() }
        thread.name = "log-output"
        thread.start()
    }

    /// How often a line woke the writer thread (it was asleep: the line came after a pause).
    public var wakeUps: Int { signals.load(ordering: .relaxed) }
    /// How often the writer thread woke, for whatever reason: a line, a flush, the end of a linger.
    public var writerWakeUps: Int { wakes.load(ordering: .relaxed) }

    private static let initialCapacity = 16 << 10

    /// Appends a whole line (with its newline). No syscall unless the writer sleeps (one wake)
    /// or the buffer is over its limit (then it waits for the writer).
    public func write(_ line: [UInt8]) {
        line.withUnsafeBytes { write($0) }
    }

    /// Appends a whole line (with its newline), copied.
    public func write(_ line: UnsafeRawBufferPointer) {
        while true {
            let (signal, waiter) = state.withLock { state -> (Bool, DispatchSemaphore?) in
                var waiter: DispatchSemaphore?
                if state.buffer.count >= limit {
                    waiter = DispatchSemaphore(value: 0)
                    state.waiting.append(waiter!)
                } else {
                    state.buffer.append(contentsOf: line)
                }
                guard state.writer == .sleeping else { return (false, waiter) }
                state.writer = .busy
                return (true, waiter)
            }
            if signal {
                signals.add(1, ordering: .relaxed)
                wake.signal()
            }
            guard let waiter else { return }
            waiter.wait()
        }
    }

    /// Waits until every line appended before the call is written.
    public func flush() {
        let done = DispatchSemaphore(value: 0)
        let signal = state.withLock { state -> Bool in
            state.waiting.append(done)
            // A busy writer serves the waiters when it finds the buffer empty; a lingering or
            // sleeping one is woken for them.
            guard state.writer != .busy else { return false }
            state.writer = .busy
            return true
        }
        if signal { wake.signal() }
        done.wait()
    }

    /// The writer thread: takes the whole buffer at once, writes it outside the lock, gives the
    /// emptied one back for the next lines (no allocation per batch), lingers, sleeps.
    private func drain() {
        var taken: [UInt8] = []
        taken.reserveCapacity(Self.initialCapacity)
        var lingered = false
        while true {
            enum Next { case write, linger, sleep }
            let (next, waiting) = state.withLock { state -> (Next, [DispatchSemaphore]) in
                if !state.buffer.isEmpty {
                    swap(&taken, &state.buffer)
                    state.writer = .busy
                    return (.write, [])
                }
                // Everything appended before these waiters came is written.
                var waiting: [DispatchSemaphore] = []
                swap(&waiting, &state.waiting)
                state.writer = lingered ? .sleeping : .lingering
                return (lingered ? .sleep : .linger, waiting)
            }
            for waiter in waiting { waiter.signal() }
            switch next {
            case .write:
                Self.writeAll(taken, to: descriptor)
                if taken.capacity > 1 << 20 {
                    taken = []
                    taken.reserveCapacity(Self.initialCapacity)
                } else {
                    taken.removeAll(keepingCapacity: true)
                }
                lingered = false
            case .linger:
                lingered = true
                _ = wake.wait(timeout: .now() + linger)
                wakes.add(1, ordering: .relaxed)
            case .sleep:
                wake.wait()
                wakes.add(1, ordering: .relaxed)
                lingered = false
            }
        }
    }

    private static func writeAll(_ bytes: [UInt8], to descriptor: Int32) {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Foundation.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0, errno == EINTR { continue }
                if written <= 0 { return }
                offset += written
            }
        }
    }
}
