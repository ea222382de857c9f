import Foundation
import Reconcile

/// Questions and progress for an operator at a terminal; silent when there is none (a script,
/// a CI job), which then proceeds without being asked (contract section 11).
enum Terminal {
    /// Standard input and standard error are both a terminal: someone can answer.
    static var isInteractive: Bool { isatty(STDIN_FILENO) == 1 && isatty(STDERR_FILENO) == 1 }

    static var showsProgress: Bool { isatty(STDERR_FILENO) == 1 }

    /// Asks on standard error; true only for an answer starting with y.
    static func confirm(_ question: String) -> Bool {
        FileHandle.standardError.write(Data("\(question) [y/N] ".utf8))
        guard let answer = readLine(strippingNewline: true)?.trimmingCharacters(in: .whitespaces).lowercased() else { return false }
        return answer.hasPrefix("y")
    }

    /// Rewrites the current line of standard error.
    static func status(_ text: String) {
        FileHandle.standardError.write(Data("\r\u{1B}[2K\(text)".utf8))
    }
}

/// "reading provisioning.commands: 120,000 of 1,000,000 (12%)" on a terminal, at most a few
/// times a second; nothing without one. Used from one task at a time.
final class ScanProgress: ReconcileProgress {
    private let enabled = Terminal.showsProgress
    private var label = ""
    private var total: Int64 = 0
    private var count: Int64 = 0
    private var shown = ContinuousClock.now

    func start(_ label: String, records: Int64) {
        self.label = label
        total = records
        count = 0
        show()
    }

    func advance() {
        count += 1
        guard enabled, count & 1023 == 0, ContinuousClock.now - shown > .milliseconds(200) else { return }
        show()
    }

    func done() {
        if enabled { Terminal.status("") }
    }

    private func show() {
        guard enabled else { return }
        shown = .now
        let share = total > 0 ? " (\(count * 100 / total)%)" : ""
        Terminal.status("\(label): \(count.formatted()) of \(total.formatted())\(share)")
    }
}
