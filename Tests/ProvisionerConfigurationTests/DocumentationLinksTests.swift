import Foundation
import Testing

/// The README is the front door and docs/ holds the rest: every relative link in them leads to a
/// file that exists, and every `#anchor` to a heading of that file (GitHub's anchors).
@Suite("Documentation links", .timeLimit(.minutes(10)))
struct DocumentationLinksTests {
    static let root = ConfigurationReferenceTests.root

    static var documents: [URL] {
        let docs = root.appendingPathComponent("docs")
        let files = (FileManager.default.enumerator(at: docs, includingPropertiesForKeys: nil)?.allObjects as? [URL]) ?? []
        return [root.appendingPathComponent("README.md")] + files.filter { $0.pathExtension == "md" }.sorted { $0.path < $1.path }
    }

    /// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens.
    static func anchor(_ heading: String) -> String {
        String(
            heading.lowercased().compactMap { character -> Character? in
                if character == " " { return "-" }
                return character.isLetter || character.isNumber || character == "-" || character == "_" ? character : nil
            })
    }

    static func anchors(in file: URL) throws -> Set<String> {
        let text = try String(contentsOf: file, encoding: .utf8)
        var inCode = false
        var anchors = Set<String>()
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") { inCode.toggle() }
            guard !inCode, line.hasPrefix("#"), let space = line.firstIndex(of: " ") else { continue }
            anchors.insert(anchor(String(line[line.index(after: space)...])))
        }
        return anchors
    }

    @Test("every relative link in the README and docs/ resolves: the file exists and so does the heading it names")
    func linksResolve() throws {
        var checked = 0
        for document in Self.documents {
            let text = try String(contentsOf: document, encoding: .utf8)
            for match in text.matches(of: /\]\(([^)\s]+)\)/) {
                let link = String(match.output.1)
                guard !link.hasPrefix("http://"), !link.hasPrefix("https://"), !link.hasPrefix("mailto:") else { continue }
                let parts = link.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                let target = parts[0].isEmpty ? document : document.deletingLastPathComponent().appendingPathComponent(parts[0])
                let name = document.path.replacingOccurrences(of: Self.root.path + "/", with: "")
                #expect(FileManager.default.fileExists(atPath: target.path), "\(name) links to \(link), which does not exist")
                if parts.count == 2, target.pathExtension == "md", FileManager.default.fileExists(atPath: target.path) {
                    #expect(try Self.anchors(in: target).contains(parts[1]), "\(name) links to \(link): no such heading")
                }
                checked += 1
            }
        }
        #expect(checked > 20, "the links were found")
    }

    @Test("the README is a front door: under 200 lines, the two set-up commands, and a link to every document in docs/")
    func readmeIsAFrontDoor() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let lines = readme.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count < 200)
        #expect(lines.contains("./scripts/bootstrap && swift run provisioner dev"))
        #expect(lines.contains("./scripts/test"), "the test command is scripts/test")
        // CI runs exactly the README's test command, last, after installing what a fresh machine lacks.
        let ci = try String(contentsOf: Self.root.appendingPathComponent(".ci/run"), encoding: .utf8)
        #expect(ci.split(separator: "\n").last == "./scripts/test")
        for document in Self.documents.dropFirst() where document.deletingLastPathComponent().lastPathComponent == "docs" {
            #expect(readme.contains("](docs/\(document.lastPathComponent))"), "the README links docs/\(document.lastPathComponent)")
        }
    }
}
