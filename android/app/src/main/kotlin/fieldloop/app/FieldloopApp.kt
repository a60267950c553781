// Opens the one FieldPhone for the process (store in the app's private files, the device's
// signing key sealed by the Android Keystore) and schedules the periodic background sync.
package fieldloop.app

import android.app.Application
import androidx.work.Constraints
import androidx.work.ExistingPeriodicWorkPolicy
import androidx.work.NetworkType
import androidx.work.PeriodicWorkRequestBuilder
import androidx.work.WorkManager
import fieldloop.app.logic.Words
import java.util.concurrent.TimeUnit
import uniffi.fieldloop_ffi.FieldException
import uniffi.fieldloop_ffi.FieldPhone

class FieldloopApp : Application() {
    lateinit var phone: FieldPhone
        private set

    /**
     * Set instead of [phone] when the Keystore cannot unseal the device's signing key: the
     * screens show it and nothing else runs (a new key would be a new, unregistered device).
     */
    var openError: String? = null
        private set

    override fun onCreate() {
        super.onCreate()
        try {
            phone = FieldPhone.openWithVault(filesDir.resolve("fieldloop").path, BuildServer.URL, androidKeystoreVault())
        } catch (e: FieldException.DeviceKeyUnavailable) {
            openError = Words.error(e)
            return
        }
        val periodic = PeriodicWorkRequestBuilder<SyncWorker>(15, TimeUnit.MINUTES)
            .setConstraints(Constraints.Builder().setRequiredNetworkType(NetworkType.CONNECTED).build())
            .build()
        WorkManager.getInstance(this)
            .enqueueUniquePeriodicWork("sync", ExistingPeriodicWorkPolicy.KEEP, periodic)
    }
}

/** The deployment's server; set per build flavour in a real deployment. */
object BuildServer {
    const val URL = "https://fieldloop.example.cn"
}
