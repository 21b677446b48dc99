import HTTP

#if canImport(Glibc)
import Glibc
#endif

/// The API describing itself: `GET /openapi.json` (``OpenAPIDocument``) and the interactive
/// page at `GET /docs` (Swagger UI), whose assets the gateway serves itself, never from a CDN.
///
/// Where things come from:
/// - the document, the page and its init script are compiled into the gateway (the page has
///   no inline script: the Content-Security-Policy allows only the gateway's own files);
/// - Swagger UI's files (`swagger-ui-bundle.js`, `swagger-ui.css`, `favicon-32x32.png`) are
///   read once at start from `DOCS_ASSETS_DIR`, where `deploy/dev` and the container image
///   install the distribution from PyPI. When they are missing the gateway still serves the
///   document, and `/docs` answers 503 naming the directory.
///
/// Every answer carries a strong `ETag` (a hash of the bytes) and `Cache-Control`, and
/// `If-None-Match` gets a 304. Built once at start; read-only afterwards, shared by every loop.
struct APIDocs: Sendable {
    /// One file as served.
    struct File: Sendable {
        let body: [UInt8]
        let contentType: String
        let etag: String
        let cacheControl: String

        init(_ body: [UInt8], contentType: String, cacheControl: String) {
            self.body = body
            self.contentType = contentType
            self.etag = APIDocs.etag(of: body)
            self.cacheControl = cacheControl
        }
    }

    /// The Swagger UI files the page loads, as named in `DOCS_ASSETS_DIR` and under `/docs/`.
    static let swaggerFiles: [(name: String, contentType: String)] = [
        ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
        ("swagger-ui.css", "text/css; charset=utf-8"),
        ("favicon-32x32.png", "image/png"),
    ]
    /// Our own script that starts Swagger UI (a file, because the policy forbids inline scripts).
    static let initScriptName = "docs.js"

    /// What the page may load: only the gateway's own files and the document; Swagger UI's
    /// icons are `data:` images; "Try it out" calls the same origin.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    /// Revalidated on every use (a new gateway may serve a new document), cheaply thanks to the ETag.
    static let revalidate = "no-cache"
    /// Swagger UI's files change only with a new installation; an hour, then revalidate.
    static let assetLifetime = "public, max-age=3600"

    let document: File
    /// The page, its script and Swagger UI's files by name; empty when the files are missing.
    let pages: [String: File]
    /// Why `/docs` cannot be served, when it cannot.
    let unavailable: String?

    /// - Parameters:
    ///   - assetsDirectory: `DOCS_ASSETS_DIR`.
    ///   - readFile: reads a whole file, nil when it cannot (tests pass their own).
    init(assetsDirectory: String, readFile: (String) -> [UInt8]? = APIDocs.readFile) {
        document = File(Array(OpenAPIDocument.json.utf8), contentType: "application/json", cacheControl: Self.revalidate)
        var pages: [String: File] = [:]
        var missing: [String] = []
        for (name, contentType) in Self.swaggerFiles {
            if let bytes = readFile(assetsDirectory + "/" + name), !bytes.isEmpty {
                pages[name] = File(bytes, contentType: contentType, cacheControl: Self.assetLifetime)
            } else {
                missing.append(name)
            }
        }
        if missing.isEmpty {
            pages[""] = File(PackageResources.docs_html, contentType: "text/html; charset=utf-8", cacheControl: Self.revalidate)
            pages[Self.initScriptName] = File(
                PackageResources.docs_js, contentType: "text/javascript; charset=utf-8", cacheControl: Self.revalidate)
            unavailable = nil
        } else {
            pages = [:]
            unavailable =
                "API docs are not available: Swagger UI assets not found in DOCS_ASSETS_DIR \(assetsDirectory) "
                + "(missing \(missing.joined(separator: ", ")))"
        }
        self.pages = pages
    }

    /// The answer to `GET`/`HEAD /openapi.json`.
    func documentResponse(method: HTTPMethod, ifNoneMatch: String?) -> HTTPServerResponse {
        guard method == .GET || method == .HEAD else { return Self.methodNotAllowed }
        return response(document, ifNoneMatch: ifNoneMatch, isPage: false)
    }

    /// The answer to `GET`/`HEAD /docs` (`asset` empty) or `/docs/<asset>`.
    func pageResponse(asset: String, method: HTTPMethod, ifNoneMatch: String?) -> HTTPServerResponse {
        guard method == .GET || method == .HEAD else { return Self.methodNotAllowed }
        if let unavailable { return APIError(.serviceUnavailable, detail: unavailable).response }
        guard let file = pages[asset] else { return APIError(.notFound, detail: "Not Found").response }
        return response(file, ifNoneMatch: ifNoneMatch, isPage: asset.isEmpty)
    }

    static var methodNotAllowed: HTTPServerResponse {
        APIError(.methodNotAllowed, detail: "Method Not Allowed", headers: ["Allow": "GET, HEAD"]).response
    }

    private func response(_ file: File, ifNoneMatch: String?, isPage: Bool) -> HTTPServerResponse {
        // (`X-Content-Type-Options: nosniff` is on every gateway response: the server adds it.)
        var headers: HTTPHeaders = ["ETag": file.etag, "Cache-Control": file.cacheControl]
        if isPage {
            headers.add(name: "Content-Security-Policy", value: Self.contentSecurityPolicy)
            headers.add(name: "Referrer-Policy", value: "no-referrer")
        }
        if let ifNoneMatch, EntityTag.matches(ifNoneMatch: ifNoneMatch, etag: file.etag) {
            return HTTPServerResponse(status: .notModified, headers: headers)
        }
        headers.add(name: "Content-Type", value: file.contentType)
        return HTTPServerResponse(status: .ok, headers: headers, body: .bytes(file.body))
    }

    /// A strong validator from the bytes: FNV-1a, 64 bits, quoted hex. Not a security
    /// measure, only a change detector.
    static func etag(of bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        let hex = String(hash, radix: 16)
        return "\"" + String(repeating: "0", count: 16 - hex.count) + hex + "\""
    }

    /// The largest file read from `DOCS_ASSETS_DIR` (Swagger UI's bundle is about 1.6 MB).
    static let maxFileSize = 16 << 20

    /// Reads a whole file of at most ``maxFileSize`` bytes; nil when it cannot.
    static func readFile(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count <= 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > maxFileSize { return nil }
        }
        return ferror(file) == 0 ? bytes : nil
    }
}
