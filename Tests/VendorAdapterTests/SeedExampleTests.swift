import Foundation
import Provisioning
import ProvisioningContract
import Testing
import VendorAdapters
import VendorSimulators

/// Each seed document's own example, as a command through the adapter to the simulator, must
/// yield the seed's own answer.
@Suite("Seed examples", .timeLimit(.minutes(10)))
struct SeedExampleTests {
    @Test("TECS registerUser and assignRoles (seed 000)")
    func tecs() async throws {
        try await Vendors.with { vendors in
            let created = await vendors.perform(
                try command(
                    """
                    {"commandId":"c1","target":"tecs-test","operation":"createUser","user":{"userName":"userlogin","email":"user@example.com",
                     "givenName":"UserName","familyName":"UserSurname","salutation":"Mr.","birthDate":"2000-01-01","phone":"+4991199009926",
                     "address":{"street1":"Potsdamer","street2":"13","city":"Berlin","state":"Berlin","postalCode":"10783","country":"Germany"},
                     "documents":{"nationalId":"19574328625","passport":"VH488314","driverLicence":"DC357158"}}}
                    """), on: .tecs)
            #expect(created.succeeded)
            #expect(created.vendorUserId == "userlogin")
            #expect(created.vendorResponse?.code == "0")
            #expect(created.vendorResponse?.message == "OK")
            #expect(created.vendorResponse?.body?["consumerId"] == .string("userlogin"))
            let stored = try #require(vendors.users(.tecs).first)
            // Every field of the seed's request arrived as the seed writes it.
            let expected: [String: String] = [
                "city": "Berlin", "country": "Germany", "dateOfBirth": "01.01.2000", "driverLicenceNumber": "DC357158",
                "email": "user@example.com", "firstName": "UserName", "identificationNumber": "19574328625", "lastName": "UserSurname",
                "login": "userlogin", "passportNumber": "VH488314", "phone": "+4991199009926", "salutation": "Mr.", "state": "Berlin",
                "street1": "Potsdamer", "street2": "13", "zip": "10783",
            ]
            for (field, value) in expected { #expect(stored[field] == .string(value), "\(field)") }

            let assigned = await vendors.perform(
                try command(
                    """
                    {"commandId":"c2","target":"tecs-test","operation":"assignRoles","userId":"userlogin",
                     "roles":[{"name":"MP_CORPORATE","scope":"4dbbab90-74f5-4d8d-92e1-d02e6a4a0dee"}]}
                    """), on: .tecs)
            #expect(assigned.succeeded)
            #expect(assigned.vendorResponse?.code == "0")
            let roles = vendors.users(.tecs).first?["roles"]
            #expect(roles == .array([.object(["corporateUUID": .string("4dbbab90-74f5-4d8d-92e1-d02e6a4a0dee"), "userRoleName": .string("MP_CORPORATE")])]))
        }
    }

    @Test("URAC addUser (seed 001) and editUser (seed 003)")
    func urac() async throws {
        try await Vendors.with { vendors in
            let created = await vendors.perform(
                try command(
                    """
                    {"commandId":"c1","target":"urac-test","operation":"createUser","user":{"userName":"john","givenName":"John","familyName":"Doe","email":"johndoe@domain.com"}}
                    """), on: .urac)
            #expect(created.succeeded)
            let id = try #require(created.vendorUserId)
            #expect(id.count == 24 && id.allSatisfy(\.isHexDigit))
            #expect(created.vendorResponse?.body?["result"] == .bool(true))
            #expect(created.vendorResponse?.body?["data"]?["id"] == .string(id))
            // The session token URAC hands out is not repeated in the reply.
            #expect(created.vendorResponse?.body?["data"]?["token"] == .string("<redacted>"))

            // The seed's editUser: username, names, email and status=active.
            let edited = await vendors.perform(
                try command(
                    """
                    {"commandId":"c2","target":"urac-test","operation":"updateUser","userId":"\(id)","user":{"userName":"john","givenName":"John","familyName":"Doe","email":"johndoe@domain.com","active":true}}
                    """), on: .urac)
            #expect(edited.succeeded)
            #expect(edited.vendorResponse?.body?["result"] == .bool(true))
            #expect(vendors.users(.urac).first?["status"] == .string("active"))
        }
    }

    @Test("ServiceMobility: every call of seed 002")
    func serviceMobility() async throws {
        try await Vendors.with { vendors in
            let created = await vendors.perform(
                try command(
                    """
                    {"commandId":"c1","target":"servicemobility-test","operation":"createUser","user":{"userName":"jdoe","email":"jdoe@example.com","givenName":"John","familyName":"Doe","password":"s3cret-Pa55"}}
                    """), on: .servicemobility)
            #expect(created.succeeded)
            #expect(created.vendorUserId == "jdoe")
            let read = await vendors.perform(
                try command(#"{"commandId":"c2","target":"servicemobility-test","operation":"getUser","userId":"jdoe"}"#), on: .servicemobility)
            #expect(read.data?["user"]?["userName"] == .string("jdoe"))
            #expect(read.data?["user"]?["email"] == .string("jdoe@example.com"))
            #expect(read.data?["user"]?["active"] == .bool(true))
            for (id, operation, extra) in [
                ("c3", "resetPassword", ""), ("c4", "changePassword", #","password":"n3w-Secret-1""#), ("c5", "assignGroups", #","groups":["north","east"]"#),
            ] {
                let outcome = await vendors.perform(
                    try command(#"{"commandId":"\#(id)","target":"servicemobility-test","operation":"\#(operation)","userId":"jdoe"\#(extra)}"#),
                    on: .servicemobility)
                #expect(outcome.succeeded, "\(operation)")
                #expect(outcome.vendorResponse?.httpStatus == 200)
            }
            let stored = try #require(vendors.users(.servicemobility).first)
            #expect(stored["Password"] == .string("n3w-Secret-1"))
            #expect(stored["ServiceTeams"] == .array([.string("north"), .string("east")]))
            let deleted = await vendors.perform(
                try command(#"{"commandId":"c6","target":"servicemobility-test","operation":"deleteUser","userId":"jdoe"}"#), on: .servicemobility)
            #expect(deleted.succeeded)
            #expect(vendors.users(.servicemobility).isEmpty)
            // DELETE of a missing user: HTTP 410.
            let again = await vendors.perform(
                try command(#"{"commandId":"c7","target":"servicemobility-test","operation":"deleteUser","userId":"jdoe"}"#), on: .servicemobility)
            #expect(again.failure?.error.category == .notFound)
            #expect(again.failure?.error.code == "410")
            #expect(again.vendorResponse?.httpStatus == 410)
        }
    }

    @Test("ASMS POST user (seed 004) answers id 4848 and result true")
    func asms() async throws {
        try await Vendors.with { vendors in
            let created = await vendors.perform(
                try command(
                    """
                    {"commandId":"c1","target":"asms-test","operation":"createUser","user":{"userName":"pruebamabc111","displayName":"nombre prueba once",
                     "email":"pruebamabc11@gmail.com","password":"Aranda123","active":true,"birthDate":"1979-12-27",
                     "extensions":{"asms":{"projectId":19,"stateId":1,"consoleType":"Administrator","registerType":"specialist","listAdditionalField":[]}}}}
                    """), on: .asms)
            #expect(created.succeeded)
            #expect(created.vendorUserId == "4848")
            #expect(created.vendorResponse?.body == .object(["id": .integer(4848), "result": .bool(true)]))
            let stored = try #require(vendors.users(.asms).first)
            #expect(stored["consoleType"] == .integer(3))  // Administrator
            #expect(stored["registerType"] == .integer(53))  // specialist
            #expect(stored["birthDate"] == .integer(315_100_800_000))  // 1979-12-27T00:00Z in Unix ms
            #expect(stored["Name"] == .string("nombre prueba once"))
        }
    }
}
