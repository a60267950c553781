// Opens the one FieldPhone for the process (store in the app's private files) and
// schedules the periodic background sync.
package fieldloop.app

import android.app.Application
import androidx.work.Constraints
import androidx.work.ExistingPeriodicWorkPolicy
import androidx.work.NetworkType
import androidx.work.PeriodicWorkRequestBuilder
import androidx.work.WorkManager
import java.util.concurrent.TimeUnit
import uniffi.fieldloop_ffi.FieldPhone

class FieldloopApp : Application() {
    lateinit var phone: FieldPhone
        private set

    override fun onCreate() {
        super.onCreate()
        phone = FieldPhone.open(filesDir.resolve("fieldloop").path, BuildServer.URL)
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
