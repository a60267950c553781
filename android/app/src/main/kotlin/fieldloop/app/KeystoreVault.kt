// The key that seals the device's evidence signing secret, kept in the Android Keystore:
// the secret in the app's store is only the sealed form, and the wrapping key never leaves
// the key store (hardware-backed where the phone has it). Written against the Android API
// but not compiled in this repository's CI (no Android SDK there); the sealing itself is
// fieldloop.app.logic.AesGcmKeyVault, which the JVM tests run.
package fieldloop.app

import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import fieldloop.app.logic.AesGcmKeyVault
import java.security.KeyStore
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey

object AndroidKeystoreKey {
    private const val PROVIDER = "AndroidKeyStore"
    private const val ALIAS = "fieldloop.device-key.wrap"

    /**
     * The wrapping key, made on first use. No user authentication and no "unlocked device
     * required": the periodic background sync opens the store with the screen locked. If
     * the key is ever gone (the key store was reset), a new one is made here and the old
     * sealed secret simply fails to open: the app reports DeviceKeyUnavailable, and never
     * makes a new device identity by itself.
     */
    @Synchronized
    fun getOrCreate(): SecretKey {
        val keyStore = KeyStore.getInstance(PROVIDER).apply { load(null) }
        (keyStore.getKey(ALIAS, null) as? SecretKey)?.let { return it }
        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, PROVIDER)
        generator.init(
            KeyGenParameterSpec.Builder(ALIAS, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .setKeySize(256)
                .build(),
        )
        return generator.generateKey()
    }
}

/** The vault FieldPhone.openWithVault takes: AES-256-GCM under the Keystore key. */
fun androidKeystoreVault(): AesGcmKeyVault = AesGcmKeyVault { AndroidKeystoreKey.getOrCreate() }
