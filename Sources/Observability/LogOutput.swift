import Foundation
import Synchronization

/// Where log lines go: a buffer that callers append to under a short lock, drained by one
/// thread of its own that makes the `write(2)` calls. A task logging on the cooperative pool
/// then never waits for a syscall, nor for another task's.
///
/// Lines are written whole and in the order they were appended. Past `limit` buffered bytes
/// (the descriptor is slower than the loggers for a long while) a caller writes its line itself:
/// lines are delayed, never dropped. `flush()` writes what is buffered before the process exits.
public final class LogOutput: Sendable {
    private struct State {
        var buffer: [UInt8] = []
        var writing = false
    }

    private let descriptor: Int32
    private let limit: Int
    private let state = Mutex(State())
    /// Signalled when the buffer goes from empty to not empty, and when a flush waits.
    private let wake = DispatchSemaphore(value: 0)
    private let drained = Mutex<[DispatchSemaphore]>([])

    /// Standard error, with its writer thread started on first use.
    public static let standardError = LogOutput(descriptor: 2)

    public init(descriptor: Int32, limit: Int = 8 << 20) {
        self.descriptor = descriptor
        self.limit = limit
        let thread = Thread { [self] in drain() }
        thread.name = "log-output"
        thread.start()
    }

    /// Appends a whole line (with its newline). Never makes a syscall unless the buffer is over its limit.
    public func write(_ line: [UInt8]) {
        let (signal, direct) = state.withLock { state -> (Bool, Bool) in
            if state.buffer.count >= limit { return (false, true) }
            let wasEmpty = state.buffer.isEmpty && !state.writing
            state.buffer.append(contentsOf: line)
            return (wasEmpty, false)
        }
        if direct {
            Self.writeAll(line, to: descriptor)
        } else if signal {
            wake.signal()
        }
    }

    /// Waits until every line appended before the call is written.
    public func flush() {
        let done = DispatchSemaphore(value: 0)
        drained.withLock { $0.append(done) }
        wake.signal()
        done.wait()
    }

    /// The writer thread: takes the whole buffer at once and writes it outside the lock.
    private func drain() {
        while true {
            wake.wait()
            while true {
                let chunk = state.withLock { state -> [UInt8] in
                    var taken: [UInt8] = []
                    swap(&taken, &state.buffer)
                    state.writing = !taken.isEmpty
                    return taken
                }
                if chunk.isEmpty { break }
                Self.writeAll(chunk, to: descriptor)
            }
            for waiter in drained.withLock({ waiters in
                defer { waiters = [] }
                return waiters
            }) { waiter.signal() }
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
