// user-service: users and authentication. Settings: `user-service --help`;
// the operator's role command: `user-service admin grant|revoke EMAIL`.
import ServiceKit
import UserService

if CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "admin" {
    UserAdministration.main(Array(CommandLine.arguments.dropFirst(2)))
}
ServiceRunner.main(name: UserService.name, settings: UserService.settings) { context in
    try await UserService.make(context)
}
