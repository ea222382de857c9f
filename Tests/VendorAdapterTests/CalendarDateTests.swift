import Foundation
import Testing

@testable import VendorAdapters

@Suite("Vendor calendar dates", .timeLimit(.minutes(10)))
struct CalendarDateTests {
    static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    @Test("milliseconds to dates and back agree with Foundation's calendar from 1583 (Foundation's calendar is Julian before) to 9999")
    func againstFoundation() {
        // Every 997th day over the range, and around the epoch and leap days.
        let first = -141_349
        let last = 2_932_896
        for day in stride(from: first, through: last, by: 997) + Array(-400...400) {
            let milliseconds = Int64(day) * 86_400_000
            let components = Self.utc.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
            let expected = String(format: "%04d-%02d-%02d", components.year!, components.month!, components.day!)
            #expect(CalendarDate.fromUnixMilliseconds(milliseconds) == expected)
            #expect(CalendarDate.unixMilliseconds(expected) == milliseconds, "\(expected)")
        }
        #expect(CalendarDate.fromUnixMilliseconds(86_400_000 - 1) == "1970-01-01", "the last millisecond of a day is still that day")
        #expect(CalendarDate.fromUnixMilliseconds(-1) == "1969-12-31")
    }

    @Test("TECS's dd.MM.yyyy both ways")
    func dotted() {
        #expect(CalendarDate.dotted("2000-01-02") == "02.01.2000")
        #expect(CalendarDate.fromDotted("02.01.2000") == "2000-01-02")
        #expect(CalendarDate.dotted("0999-12-31") == "31.12.0999")
        #expect(CalendarDate.dotted("not a date") == nil)
    }
}
