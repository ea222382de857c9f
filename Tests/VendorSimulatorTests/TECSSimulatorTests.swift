import Foundation
import ProvisioningContract
import Testing
import VendorSimulators

@Suite("TECS simulator", .timeLimit(.minutes(10)))
struct TECSSimulatorTests {
    /// The seed's registerUser body, as the seed document prints it.
    static let seedRegister = """
        { "city": "Berlin",
        "country": "Germany",
        "dateOfBirth": "01.01.2000",
        "driverLicenceNumber": "DC357158",
        "email": "[email protected]",
        "firstName": "UserName",
        "identificationNumber": "19574328625",
        "lastName": "UserSurname",
        "login": "userlogin",
        "passportNumber": "VH488314",
        "phone": "+4991199009926",
        "salutation": "Mr.",
        "state": "Berlin",
        "street1": "Potsdamer",
        "street2": "13",
        "zip": "10783"}
        """
    static let seedAssignRoles = """
        { "consumerUUID": "userlogin",
        "roles": [ { "corporateUUID": "4dbbab90-74f5-4d8d-92e1-d02e6a4a0dee", "userRoleName": "MP_CORPORATE" } ]}
        """

    @Test("the seed's registerUser and assignRoles answer exactly as the seed shows")
    func seedExamples() async throws {
        try await Harness.run { h in
            let registered = try await h.tecs("registerUser", Self.seedRegister)
            #expect(registered.status == 200)
            #expect(registered.body == #"{"responseCode":0,"responseMessage":"OK","consumerId":"userlogin"}"#)
            let assigned = try await h.tecs("assignRoles", Self.seedAssignRoles)
            #expect(assigned.status == 200)
            #expect(assigned.body == #"{"responseCode":0,"responseMessage":"OK"}"#)
            let stored = try #require(h.simulator.users(.tecs).first)
            #expect(stored["identificationNumber"] == .string("19574328625"))
            #expect(stored["roles"]?.arrayValue?.first?["userRoleName"] == .string("MP_CORPORATE"))
        }
    }

    @Test("registerUser: no email is 24012 naming it, a repeat is 25012, a bad date is 25004")
    func registerRules() async throws {
        try await Harness.run { h in
            let noEmail = try await h.tecs("registerUser", #"{"login":"a","firstName":"A"}"#)
            #expect(noEmail.status == 200)
            #expect(noEmail["responseCode"] == .integer(24012))
            #expect(noEmail["responseMessage"] == .string("Mandatory fields are not filled email"))

            #expect(try await h.tecs("registerUser", #"{"login":"a","email":"a@x.test"}"#)["responseCode"] == .integer(0))
            let sameEmail = try await h.tecs("registerUser", #"{"login":"b","email":"A@X.test"}"#)
            #expect(sameEmail["responseCode"] == .integer(25012))
            #expect(sameEmail["responseMessage"] == .string("DATA_INTEGRITY_ERROR"))
            #expect(try await h.tecs("registerUser", #"{"login":"a","email":"other@x.test"}"#)["responseCode"] == .integer(25012))

            let badDate = try await h.tecs("registerUser", #"{"email":"c@x.test","dateOfBirth":"2000-01-01"}"#)
            #expect(badDate["responseCode"] == .integer(25004))
            #expect(h.simulator.users(.tecs).count == 1)
        }
    }

    @Test("without a login the consumerId is generated, and listOfUsers finds the user by email")
    func generatedIdAndList() async throws {
        try await Harness.run { h in
            let registered = try await h.tecs("registerUser", #"{"email":"anon@x.test","firstName":"Ann","phone":"+431"}"#)
            let id = try #require(registered["consumerId"]?.stringValue)
            #expect(!id.isEmpty)
            let listed = try await h.tecs("listOfUsers", #"{"email":"ANON@x.test"}"#)
            #expect(listed["responseCode"] == .integer(0))
            let user = try #require(listed["users"]?.arrayValue?.first)
            #expect(user["consumerId"] == .string(id))
            #expect(user["firstName"] == .string("Ann"))
            #expect(user["active"] == .bool(true))
            #expect(try await h.tecs("listOfUsers", #"{"email":"nobody@x.test"}"#)["users"]?.arrayValue?.isEmpty == true)
        }
    }

    @Test("updateConsumer is partial; unknown consumers are 25004; resetPassword checks phone and activity")
    func updateStatusAndPassword() async throws {
        try await Harness.run { h in
            _ = try await h.tecs("registerUser", #"{"login":"u1","email":"u1@x.test","firstName":"Old","lastName":"Name","phone":"+431"}"#)
            #expect(try await h.tecs("updateConsumer", #"{"consumerUuid":"u1","firstName":"New"}"#)["responseCode"] == .integer(0))
            let user = try #require(try await h.tecs("listOfUsers", #"{"consumerUUID":"u1"}"#)["users"]?.arrayValue?.first)
            #expect(user["firstName"] == .string("New"))
            #expect(user["lastName"] == .string("Name"))

            let unknown = try await h.tecs("activateUser", #"{"consumerUUID":"ghost"}"#)
            #expect(unknown["responseCode"] == .integer(25004))
            #expect(try await h.tecs("assignRoles", #"{"roles":[]}"#)["responseCode"] == .integer(24012))

            #expect(try await h.tecs("resetPassword", #"{"consumerUuid":"u1","phoneNumber":"+439"}"#)["responseCode"] == .integer(25004))
            #expect(try await h.tecs("resetPassword", #"{"consumerUuid":"u1","phoneNumber":"+431"}"#)["responseCode"] == .integer(0))
            #expect(try await h.tecs("deactivateUser", #"{"consumerUUID":"u1"}"#)["responseCode"] == .integer(0))
            #expect(try await h.tecs("resetPassword", #"{"consumerUuid":"u1","phoneNumber":"+431"}"#)["responseCode"] == .integer(25005))
            #expect(h.simulator.users(.tecs).first?["active"] == .bool(false))
        }
    }

    @Test("wrong or missing Basic credentials answer HTTP 401 with 25003")
    func credentialsRefused() async throws {
        try await Harness.run { h in
            let wrong = ["Authorization": "Basic " + Data("User1:nope".utf8).base64EncodedString()]
            let refused = try await h.tecs("registerUser", Self.seedRegister, auth: wrong)
            #expect(refused.status == 401)
            #expect(refused["responseCode"] == .integer(25003))
            #expect(try await h.tecs("registerUser", Self.seedRegister, auth: [:]).status == 401)
            #expect(h.simulator.users(.tecs).isEmpty)
        }
    }
}
