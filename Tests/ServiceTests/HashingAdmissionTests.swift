import Testing

@testable import ServiceKit

/// Who may queue a password computation (``HashingAdmission``), without a pool: new hashes
/// and one client's verifications each hold at most half of the places.
@Suite("Hashing admission", .timeLimit(.minutes(1)))
struct HashingAdmissionTests {
    @Test func oneClientsLoginsLeaveRoomForAnothers() {
        var admission = HashingAdmission(maxPending: 8)
        let flooder = HashingAdmission.Kind.verification(client: "203.0.113.1")
        var admitted = 0
        while admission.admit(flooder) { admitted += 1 }
        #expect(admitted == 4, "one client holds half")
        let another = admission.admit(.verification(client: "198.51.100.9"))
        #expect(another, "another client's login gets in")
        admission.release(flooder)
        #expect(admission.verifications(of: "203.0.113.1") == 3)
        let again = admission.admit(flooder)
        #expect(again, "a place given back is the client's again")
    }

    @Test func newHashesHoldHalfAndVerificationsTheRest() {
        var admission = HashingAdmission(maxPending: 8)
        var admitted = 0
        while admission.admit(.newHash) { admitted += 1 }
        #expect(admitted == 4)
        var verifications = 0
        for n in 1...5 where admission.admit(.verification(client: "192.0.2.\(n)")) { verifications += 1 }
        #expect(verifications == 4, "the other half, then the queue is full")
        let inProcess = admission.admit(.verification(client: nil))
        #expect(!inProcess)
        admission.release(.newHash)
        let signUp = admission.admit(.newHash)
        #expect(signUp, "a sign-up's place came back")
        #expect(admission.pending == 8)
    }

    @Test func aQueueOfOneAdmitsOneOfAnyKind() {
        var admission = HashingAdmission(maxPending: 1)
        let login = admission.admit(.verification(client: "192.0.2.1"))
        let signUpMeanwhile = admission.admit(.newHash)
        #expect(login && !signUpMeanwhile)
        admission.release(.verification(client: "192.0.2.1"))
        let signUp = admission.admit(.newHash)
        #expect(signUp)
        #expect(admission.pending == 1 && admission.newHashes == 1)
    }
}
