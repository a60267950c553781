// WorkManager's periodic sync whenever a network is there: the same call as "sync now".
package fieldloop.app

import android.content.Context
import androidx.work.CoroutineWorker
import androidx.work.WorkerParameters
import uniffi.fieldloop_ffi.FieldException

class SyncWorker(context: Context, params: WorkerParameters) : CoroutineWorker(context, params) {
    override suspend fun doWork(): Result {
        val app = applicationContext as FieldloopApp
        // The store did not open (the device key cannot be unsealed): the screen says why.
        if (app.openError != null) return Result.retry()
        val phone = app.phone
        return try {
            phone.syncNow()
            Result.success()
        } catch (e: FieldException.Offline) {
            Result.retry()
        } catch (e: FieldException.Unauthorized) {
            // Nobody logged in: nothing to sync until someone does.
            Result.success()
        } catch (e: FieldException) {
            Result.retry()
        }
    }
}
