// The device's evidence signing key, sealed by the platform's key store: the Rust core
// stores only what this vault sealed (DESIGN.md, "Evidence integrity"). Plain javax.crypto,
// so it runs on the JVM in the tests; the app hands it an Android Keystore key.
package fieldloop.app.logic

import java.security.GeneralSecurityException
import javax.crypto.Cipher
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec
import uniffi.fieldloop_ffi.KeyVault
import uniffi.fieldloop_ffi.VaultException

/**
 * AES/GCM/NoPadding under the key [key] provides (asked on every call: a key store's key
 * may be a handle that must be fetched again after the device was locked). Sealed form:
 * the 12-byte IV, then the ciphertext and its 128-bit tag.
 *
 * The cipher makes the IV itself: Android Keystore keys refuse an IV from the caller when
 * encrypting (randomized encryption is required by default), and the JVM's provider makes
 * a random 12-byte one too.
 */
class AesGcmKeyVault(private val key: () -> SecretKey) : KeyVault {
    override fun seal(secret: ByteArray): ByteArray = guarded("seal") {
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.ENCRYPT_MODE, key())
        val iv = cipher.iv ?: throw VaultException.Failed("the cipher made no IV")
        if (iv.size != IV_BYTES) throw VaultException.Failed("the cipher made a ${iv.size}-byte IV, not $IV_BYTES")
        cipher.updateAAD(CONTEXT)
        iv + cipher.doFinal(secret)
    }

    override fun unseal(sealed: ByteArray): ByteArray = guarded("unseal") {
        if (sealed.size < IV_BYTES + TAG_BITS / 8) throw VaultException.Failed("sealed key too short (${sealed.size} bytes)")
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.DECRYPT_MODE, key(), GCMParameterSpec(TAG_BITS, sealed, 0, IV_BYTES))
        cipher.updateAAD(CONTEXT)
        cipher.doFinal(sealed, IV_BYTES, sealed.size - IV_BYTES)
    }

    /** Every crypto failure (wrong key: a bad tag; a key store error) as the vault's error. */
    private inline fun guarded(what: String, block: () -> ByteArray): ByteArray = try {
        block()
    } catch (e: VaultException) {
        throw e
    } catch (e: GeneralSecurityException) {
        throw VaultException.Failed("AES-GCM $what: ${e.javaClass.simpleName}: ${e.message ?: "no detail"}")
    } catch (e: RuntimeException) {
        // Keystore errors (a key invalidated by a lock-screen change, …) can be unchecked.
        throw VaultException.Failed("AES-GCM $what: ${e.javaClass.simpleName}: ${e.message ?: "no detail"}")
    }

    private companion object {
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        const val IV_BYTES = 12
        const val TAG_BITS = 128
        /** Authenticated with every seal: these bytes are the device key, nothing else. */
        val CONTEXT = "fieldloop/device-key/v1".toByteArray(Charsets.UTF_8)
    }
}
