import Foundation
import Testing

@testable import TLS

@Suite("TLS contexts and the certificate store", .timeLimit(.minutes(10)))
struct TLSContextTests {
    @Test func loadsACertificateAndReportsItsSubjectAndSerial() async throws {
        let certificate = try await TestCertificate.make(commonName: "context.test", serial: "C0FFEE")
        let context = try TLSServerContext(
            certificatePath: certificate.certificatePath, privateKeyPath: certificate.keyPath)
        #expect(context.certificateSubject == "/CN=context.test")
        #expect(context.certificateSerial == "C0FFEE")
    }

    @Test func aKeyOfAnotherCertificateIsAKeyMismatch() async throws {
        let first = try await TestCertificate.make(commonName: "first.test", serial: "01")
        let second = try await TestCertificate.make(commonName: "second.test", serial: "02", rsa: true)
        let error = #expect(throws: TLSError.self) {
            try TLSServerContext(certificatePath: first.certificatePath, privateKeyPath: second.keyPath)
        }
        #expect(error?.code == .keyMismatch)
    }

    @Test func missingOrGarbageFilesAreCertificateLoadErrors() async throws {
        let certificate = try await TestCertificate.make(commonName: "files.test", serial: "03")
        let missing = #expect(throws: TLSError.self) {
            try TLSServerContext(certificatePath: "/nonexistent/cert.pem", privateKeyPath: certificate.keyPath)
        }
        #expect(missing?.code == .certificateLoad)
        #expect(missing?.message.isEmpty == false)
        let garbage = NSTemporaryDirectory() + "marquee-tls-garbage-\(UUID().uuidString).pem"
        try "not a key".write(toFile: garbage, atomically: true, encoding: .utf8)
        defer { unlink(garbage) }
        let badKey = #expect(throws: TLSError.self) {
            try TLSServerContext(certificatePath: certificate.certificatePath, privateKeyPath: garbage)
        }
        #expect(badKey?.code == .certificateLoad)
    }

    @Test func theEnvironmentMustNameBothFiles() async throws {
        let error = #expect(throws: TLSError.self) {
            try TLSCertificateStore.fromEnvironment(["TLS_CERT": "/some/cert.pem"])
        }
        #expect(error?.code == .configuration)
        let certificate = try await TestCertificate.make(commonName: "env.test", serial: "04")
        let store = try TLSCertificateStore.fromEnvironment([
            "TLS_CERT": certificate.certificatePath, "TLS_KEY": certificate.keyPath,
        ])
        #expect(store.current.certificateSerial == "04")
    }

    @Test func aFailedReloadKeepsTheCurrentContext() async throws {
        let first = try await TestCertificate.make(commonName: "first.test", serial: "0A")
        let second = try await TestCertificate.make(commonName: "second.test", serial: "0B")
        let store = try TLSCertificateStore(certificatePath: first.certificatePath, privateKeyPath: first.keyPath)
        let before = store.current
        // A deploy that replaced the certificate but not yet the key.
        try second.install(certificateAt: first.certificatePath, keyAt: nil)
        let error = #expect(throws: TLSError.self) { try store.reload() }
        #expect(error?.code == .keyMismatch)
        #expect(store.current === before)
        // The key arrives; now the reload goes through.
        try second.install(certificateAt: first.certificatePath, keyAt: first.keyPath)
        try await store.reloadInBackground()
        #expect(store.current.certificateSerial == "0B")
    }
}
