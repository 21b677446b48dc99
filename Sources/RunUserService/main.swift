// user-service: users and authentication. Settings: `user-service --help`.
import ServiceKit
import UserService

ServiceRunner.main(name: UserService.name, settings: UserService.settings) { context in
    try await UserService.make(context)
}
