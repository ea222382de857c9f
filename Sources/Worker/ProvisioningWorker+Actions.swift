import Kafka
import Logging

/// What the committer is asked to do. Commits happen there only, one at a time; nothing else
/// waits for it but releases and the finish (holds and deadlines are the ticker's).
enum CommitterRequest: Sendable {
    /// Commit the offsets that moved since the last commit.
    case commitMoved
    case release(KafkaPartitionRevocation, commit: [KafkaTopicPartitionOffset], timedOut: Bool)
    case finish(commit: [KafkaTopicPartitionOffset], timedOut: Bool)
}

/// Carrying the state machine's actions out, and the committer.
extension ProvisioningWorker {
    /// Carries actions out; safe on any thread, librdkafka's included (nothing here blocks).
    /// With `keepingOne`, the calling job's task runs the first job to start itself instead of
    /// starting a task for it.
    @discardableResult
    func apply(_ actions: [WorkerStateMachine.Action], keepingOne: Bool = false) -> Job? {
        var kept: Job?
        for action in actions {
            switch action {
            case .start(let job):
                if keepingOne, kept == nil { kept = job } else { launch.yield(job) }
            case .pause(let partitions):
                logger.debug("pausing partitions with too much queued work", metadata: ["partitions": "\(partitions)"])
                do { try consumer.pause(partitions) } catch { logger.warning("pause failed", metadata: ["error": "\(error)"]) }
            case .resume(let partitions):
                do { try consumer.resume(partitions) } catch { logger.warning("resume failed", metadata: ["error": "\(error)"]) }
            case .reread(let partition, let offset):
                do { try consumer.seek(partition, to: offset) } catch {
                    logger.error("cannot read the partition again", metadata: ["partition": "\(partition)", "error": "\(error)"])
                }
            case .commitSoon:
                requestCommit()
            case .release(let revocation, let offsets, let timedOut):
                request.yield(.release(revocation, commit: offsets, timedOut: timedOut))
            case .finish(let offsets, let timedOut):
                request.yield(.finish(commit: offsets, timedOut: timedOut))
            case .report(let anomaly):
                report(anomaly)
            }
        }
        return kept
    }

    func requestCommit() {
        if !commitRequested.exchange(true, ordering: .acquiringAndReleasing) { request.yield(.commitMoved) }
    }

    private func report(_ anomaly: WorkerStateMachine.Anomaly) {
        switch anomaly {
        case .gap(let partition, let expected, let received):
            WorkerMetrics.offsetAnomaly("gap")
            logger.error(
                "records skipped: reading the partition again from the first missing one",
                metadata: [
                    "partition": "\(partition)", "expected": "\(expected)", "received": "\(received)",
                ])
        case .confirmedGap(let partition, let missing):
            WorkerMetrics.offsetAnomaly("confirmed_gap")
            logger.error(
                "read again, the partition still has no records here (compacted, expired or transaction markers); going on past them",
                metadata: [
                    "partition": "\(partition)", "missing": "\(missing.lowerBound)..<\(missing.upperBound)",
                ])
        case .repeated(let partition, let offset):
            WorkerMetrics.offsetAnomaly("repeated")
            logger.warning("record delivered again while already taken; dropped", metadata: ["partition": "\(partition)", "offset": "\(offset)"])
        case .holdsLifted(let partitions):
            logger.warning(
                "no commit accepted for a while: going on past the uncommitted bound",
                metadata: [
                    "partitions": "\(partitions.map(\.description))", "waited": "\(settings.maxCommitWait)",
                ])
        }
    }

    // MARK: Committer

    /// Every commit interval: the moved offsets to the committer, holds older than
    /// `maxCommitWait` lifted and deadlines checked here, so that a commit that hangs (a
    /// transaction waiting on its coordinator) cannot hold work back for good.
    func tickPeriodically() async {
        while (try? await Task.sleep(for: settings.commitInterval)) != nil {
            apply(machine.withLock { $0.tick(now: .now) })
            requestCommit()
        }
    }

    /// Does every commit, one after another, until the final one; first what the publishing
    /// mode must do before it commits.
    func runCommitter() async {
        await publishing.prepare()
        for await next in requests {
            switch next {
            case .commitMoved:
                commitRequested.store(false, ordering: .releasing)
                await commit(machine.withLock { $0.finished ? [] : $0.takeCommits(nil) })
                if healthState.withLock({ $0.kafkaProblem != nil }), await consumer.probe() {
                    healthState.withLock { $0.kafkaAnswered() }
                }
            case .release(let revocation, let offsets, let timedOut):
                if timedOut {
                    logger.warning(
                        "revoked partitions still had running commands after the grace period", metadata: ["partitions": "\(revocation.partitions.sorted())"])
                }
                await commit(offsets)
                await publishing.drop(Set(revocation.partitions))
                revocation.complete()
                logger.info("partitions handed over", metadata: ["partitions": "\(revocation.partitions.count)", "lost": "\(revocation.isLost)"])
            case .finish(let offsets, let timedOut):
                if timedOut {
                    logger.warning("commands still queued or running after the shutdown grace period; they run again after restart")
                }
                await commit(offsets)
                launch.finish()
                return
            }
        }
    }

    private func commit(_ offsets: [KafkaTopicPartitionOffset]) async {
        guard !offsets.isEmpty else { return }
        let started = ContinuousClock.now
        do {
            try await publishing.commit(offsets, consumer: consumer)
            logger.debug("committed", metadata: ["offsets": "\(offsets.map { "\($0.topicPartition)@\($0.offset)" }.sorted())"])
            healthState.withLock { $0.kafkaAnswered() }
            WorkerMetrics.commit(ContinuousClock.now - started)
            apply(machine.withLock { $0.committed(offsets) })
        } catch {
            WorkerMetrics.commitFailures.increment()
            // Normal during a rebalance; the offsets are tried again (or redelivered elsewhere).
            logger.info("commit refused", metadata: ["error": "\(error)"])
            machine.withLock { $0.commitFailed(offsets) }
        }
    }
}
