import Foundation
import Kafka
import ProvisioningContract

/// The status record: built from the state machine, the last lag sample, the targets' guards and
/// tallies; published every interval, and once more as `stopped` after the final commit.
extension ProvisioningWorker {
    /// The worker as its status record shows it now.
    public func status(_ state: WorkerStatus.State? = nil) -> WorkerStatus {
        let (partitions, running) = machine.withLock { ($0.partitionSnapshot, $0.running) }
        let lags = lags.withLock { $0 }
        let guards = processor.guards.snapshot()
        let tallies = tallies.withLock { $0 }
        var targets: [String: WorkerStatus.Target] = [:]
        for name in processor.targets.keys {
            let tally = tallies[name] ?? TargetTally()
            let guarded = guards[name]
            targets[name] = WorkerStatus.Target(
                breaker: (guarded?.breaker ?? .closed).name, inFlight: guarded?.running ?? 0, succeeded: tally.succeeded, failed: tally.failed,
                retries: tally.retries)
        }
        return WorkerStatus(
            worker: settings.workerId, version: statusReporting?.version ?? "", group: settings.groupId,
            state: state ?? (isStopping ? .stopping : .running), startedAt: startedAt, at: Date(),
            partitions: partitions.map {
                WorkerStatus.Partition(
                    topic: $0.partition.topic, partition: $0.partition.partition, committed: $0.committed, lag: lags[$0.partition], queued: $0.queued,
                    paused: $0.paused)
            },
            inFlight: running, maxInFlight: settings.maxInFlight, targets: targets
        )
    }

    /// A record now and every interval, until the task is cancelled (`run()`'s end).
    func reportStatusPeriodically() async {
        guard let reporting = statusReporting else { return }
        repeat {
            publishStatus(status(), reporting)
        } while (try? await Task.sleep(for: reporting.interval)) != nil
    }

    /// The `stopped` record, after the final commit: the status producer's shutdown, which
    /// follows the core's in the worker's group, delivers it.
    func reportStopped() {
        guard let reporting = statusReporting else { return }
        publishStatus(status(.stopped), reporting)
    }

    private func publishStatus(_ record: WorkerStatus, _ reporting: WorkerStatusReporting) {
        do {
            let message = KafkaProducerMessage(topic: reporting.topic, key: Array(record.worker.utf8), value: try record.encoded())
            _ = try reporting.producer.submit(message)
        } catch {
            // A status record is advisory: the next one follows in an interval.
            logger.debug("status record not sent", metadata: ["error": "\(error)"])
        }
    }

    /// Counts a finished command (or a retry) for its target.
    func tally(_ target: String?, _ update: (inout TargetTally) -> Void) {
        guard let target, statusReporting != nil else { return }
        tallies.withLock { update(&$0[target, default: TargetTally()]) }
    }
}
