import Foundation

/// The README's table: absolute numbers and each scenario's ratio to the raw path of the same run.
enum Report {
    static func markdown(_ results: [Measurement], raw: Measurement?) -> String {
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
                    1000 * result.cpuSeconds / Double(result.scenario.commands), result.failed
                ))
        }
        if let ours = results.first(where: { $0.scenario.name == "peer-provisioner" }), let peer = results.first(where: { $0.scenario.name == "peer-python" }) {
            let cpu = { (m: Measurement) in 1000 * m.cpuSeconds / Double(m.scenario.commands) }
            lines.append("")
            lines.append(
                String(
                    format:
                        "Against the peer, same run: provisioner %.0f/s at %.3f ms CPU per command, the Python worker %.0f/s at %.3f ms: %.2f× the throughput, %.2f× the CPU per command.",
                    ours.throughput, cpu(ours), peer.throughput, cpu(peer), ours.throughput / peer.throughput, cpu(ours) / cpu(peer)))
        }
        return lines.joined(separator: "\n")
    }
}
