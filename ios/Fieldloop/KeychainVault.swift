// The device's evidence signing secret, sealed for the Rust core's store with a key kept in
// the Keychain: the store holds only the sealed form (DESIGN.md, "Evidence integrity").
// Written against the iOS SDK but not compiled in this repository's CI (no Swift compiler
// there); the app-call check only compares the bindings calls with the generated ones.
import CryptoKit
import Foundation
import Security

/// AES-256-GCM (CryptoKit) under a 32-byte wrapping key in the Keychain, made with
/// SecRandomCopyBytes on first use and readable after the first unlock (the background
/// sync opens the store with the screen locked), on this device only (never in backups).
/// Sealed form: CryptoKit's combined representation (12-byte nonce, ciphertext, 16-byte tag).
final class KeychainVault: KeyVault {
    private let service = "cn.fieldloop.device-key"
    private let account = "wrap-v1"
    /// Authenticated with every seal: these bytes are the device key, nothing else.
    private static let context = Data("fieldloop/device-key/v1".utf8)

    func seal(secret: Data) throws -> Data {
        let key = try storedKey() ?? createKey()
        do {
            let box = try AES.GCM.seal(secret, using: key, authenticating: Self.context)
            guard let combined = box.combined else {
                throw VaultError.Failed(reason: "AES-GCM gave no combined form")
            }
            return combined
        } catch let e as VaultError {
            throw e
        } catch {
            throw VaultError.Failed(reason: "AES-GCM seal: \(error)")
        }
    }

    func unseal(sealed: Data) throws -> Data {
        // Never made here: a new wrapping key could not open the old seal anyway, and the
        // error says what is really wrong.
        guard let key = try storedKey() else {
            throw VaultError.Failed(reason: "no wrapping key in the Keychain")
        }
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return try AES.GCM.open(box, using: key, authenticating: Self.context)
        } catch {
            throw VaultError.Failed(reason: "AES-GCM open: \(error)")
        }
    }

    private func baseQuery() -> [String: Any] {
        [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: account,
        ]
    }

    private func storedKey() throws -> SymmetricKey? {
        var query = baseQuery()
        query[kSecReturnData as String] = true
        query[kSecMatchLimit as String] = kSecMatchLimitOne
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        switch status {
        case errSecSuccess:
            guard let data = item as? Data, data.count == 32 else {
                throw VaultError.Failed(reason: "the Keychain's wrapping key is not 32 bytes")
            }
            return SymmetricKey(data: data)
        case errSecItemNotFound:
            return nil
        default:
            // errSecInteractionNotAllowed: before the first unlock after a restart.
            throw VaultError.Failed(reason: "Keychain read failed (OSStatus \(status))")
        }
    }

    private func createKey() throws -> SymmetricKey {
        var bytes = Data(count: 32)
        defer { bytes.resetBytes(in: 0..<bytes.count) }
        let random = bytes.withUnsafeMutableBytes { buffer in
            SecRandomCopyBytes(kSecRandomDefault, 32, buffer.baseAddress!)
        }
        guard random == errSecSuccess else {
            throw VaultError.Failed(reason: "no system randomness (OSStatus \(random))")
        }
        var add = baseQuery()
        add[kSecValueData as String] = bytes
        add[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        let status = SecItemAdd(add as CFDictionary, nil)
        if status == errSecDuplicateItem, let existing = try storedKey() {
            // Made by a concurrent first use (the background sync): use that one.
            return existing
        }
        guard status == errSecSuccess else {
            throw VaultError.Failed(reason: "Keychain write failed (OSStatus \(status))")
        }
        return SymmetricKey(data: bytes)
    }
}
