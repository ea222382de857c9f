import Foundation

/// The README's table: absolute numbers and each scenario's ratio to the raw path of the same run.
enum Report {
    static func markdown(_ results: [Measurement], raw: Measurement?, peerVersions: String? = nil) -> String {
        var lines = [
            "| scenario | commands | commands/s | of raw path | latency p50 / p99 / max ms (at rate) | p99 less vendor latency | peak RSS MB | CPU s: worker / broker / simulators | worker CPU ms per command | failed |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        let alone = results.first { $0.scenario.name == "d-alone" }
        for result in results {
            let ratio = raw.map { String(format: "%.0f%%", 100 * result.throughput / $0.throughput) } ?? "–"
            var throughput = String(format: "%.0f", result.throughput)
            if let other = result.otherKeysThroughput {
                throughput += String(format: " (other keys %.0f", other)
                if let alone { throughput += String(format: ", %.0f%% of %.0f without the hot key", 100 * other / alone.throughput, alone.throughput) }
                throughput += ")"
            }
            lines.append(
                String(
                    format: "| %@ | %d | %@ | %@ | %.1f / %.1f / %.1f (%.0f/s) | %.1f | %.0f | %.1f / %.1f / %.1f | %.3f | %d |",
                    result.scenario.title, result.scenario.commands, throughput, ratio,
                    result.latency.p50, result.latency.p99, result.latency.max, result.latencyRate,
                    result.latency.p99 - Double(result.scenario.vendorLatencyMs),
                    result.peakRSSMegabytes, result.cpuSeconds, result.brokerCPUSeconds, result.simulatorCPUSeconds,
                    result.cpuMillisecondsPerCommand, result.failed
                ))
        }
        func named(_ name: String) -> Measurement? { results.first { $0.scenario.name == name } }
        if let ours = named("peer-provisioner"), let peer = named("peer-python") {
            let cpu = { (m: Measurement) in m.cpuMillisecondsPerCommand }
            lines.append("")
            lines.append(
                String(
                    format:
                        "Against the peer, same run: provisioner %.0f/s at %.3f ms CPU per command, the Python worker %.0f/s at %.3f ms: %.2f× the throughput, %.2f× the CPU per command.",
                    ours.throughput, cpu(ours), peer.throughput, cpu(peer), ours.throughput / peer.throughput, cpu(ours) / cpu(peer)))
        }
        if let peerVersions, named("peer-python") != nil {
            lines.append("")
            lines.append("The Python peer ran on \(peerVersions) (Benchmarks/peer/requirements.txt).")
        }
        if let few = named("narrow-8"), let many = named("narrow-512") {
            lines.append("")
            lines.append(
                String(
                    format:
                        "narrow: 512 vs 8 CPU per command ratio %.2f (maxInFlight 512: %.0f/s at %.3f ms, maxInFlight 8: %.0f/s at %.3f ms, both behind maxConcurrency 8; issue 29's target ≤ 1.10).",
                    many.cpuMillisecondsPerCommand / few.cpuMillisecondsPerCommand, many.throughput, many.cpuMillisecondsPerCommand, few.throughput,
                    few.cpuMillisecondsPerCommand))
        }
        if let c = named("c"), let ideal = c.scenario.idealThroughput, let ofIdeal = c.ofIdeal {
            lines.append("")
            lines.append(
                String(
                    format: "c: %.0f/s, %.0f%% of the ideal %.0f/s (%d in flight over the stub's %d ms; issue 14's target ≥ 80%%).",
                    c.throughput, ofIdeal, ideal, c.scenario.parallelCalls, c.scenario.vendorLatencyMs))
        }
        return lines.joined(separator: "\n")
    }
}
