// Patrol recording in a foreground service of type location: it keeps receiving fixes
// with the screen locked and hands them to the logic's PatrolRecorder, which stores them
// in batches through the bindings.
package fieldloop.app

import android.app.Notification
import android.app.NotificationChannel
import android.app.NotificationManager
import android.content.Intent
import android.content.pm.ServiceInfo
import androidx.core.app.NotificationCompat
import androidx.core.app.ServiceCompat
import androidx.lifecycle.LifecycleService
import fieldloop.app.logic.PatrolRecorder

class PatrolService : LifecycleService() {
    private var source: LocationSource? = null

    override fun onStartCommand(intent: Intent?, flags: Int, startId: Int): Int {
        super.onStartCommand(intent, flags, startId)
        ServiceCompat.startForeground(this, NOTIFICATION_ID, notification(),
            ServiceInfo.FOREGROUND_SERVICE_TYPE_LOCATION)
        val recorder = Recorders.current ?: run { stopSelf(); return START_NOT_STICKY }
        source = LocationSource(this, 5_000) {
            recorder.onLocation(it)
            Recorders.track = Recorders.track + (it.lat to it.lon)
        }.also { it.start() }
        return START_STICKY
    }

    override fun onDestroy() {
        source?.stop()
        Recorders.current?.flush()
        super.onDestroy()
    }

    private fun notification(): Notification {
        val manager = getSystemService(NotificationManager::class.java)
        manager.createNotificationChannel(
            NotificationChannel(CHANNEL, getString(R.string.patrol_channel), NotificationManager.IMPORTANCE_LOW),
        )
        return NotificationCompat.Builder(this, CHANNEL)
            .setContentTitle(getString(R.string.patrol_running))
            .setSmallIcon(android.R.drawable.ic_menu_mylocation)
            .setOngoing(true)
            .build()
    }

    companion object {
        const val CHANNEL = "patrol"
        const val NOTIFICATION_ID = 7
    }
}

/** The recorder the patrol screen and the service share. */
object Recorders {
    @Volatile var current: PatrolRecorder? = null
    /** The positions received, for the map while recording. */
    @Volatile var track: List<Pair<Double, Double>> = emptyList()
}
