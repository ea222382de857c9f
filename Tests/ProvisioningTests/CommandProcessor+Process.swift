import Foundation
import Provisioning

extension CommandProcessor {
    /// Runs a record to its end, sleeping through its retries and waking with its target's
    /// ticket: the worker's scheduling without the worker, for tests of the processor alone.
    func process(_ value: [UInt8]?, receivedAt: Date) async -> Result {
        var progress: Progress?
        while true {
            switch await step(value, receivedAt: receivedAt, progress: progress) {
            case .finished(let result): return result
            case .retry(let delay, let next):
                try? await Task.sleep(for: delay)
                progress = next
            case .waitForTarget(let ticket, let next):
                await withCheckedContinuation { continuation in ticket.onWake { continuation.resume() } }
                progress = next
            }
        }
    }
}
