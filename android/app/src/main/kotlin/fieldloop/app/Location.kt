// Fused location with accuracy and the OS's mock flag, as the logic's LocationReading.
package fieldloop.app

import android.annotation.SuppressLint
import android.content.Context
import android.location.Location
import android.os.Build
import android.os.Looper
import com.google.android.gms.location.LocationCallback
import com.google.android.gms.location.LocationRequest
import com.google.android.gms.location.LocationResult
import com.google.android.gms.location.LocationServices
import com.google.android.gms.location.Priority
import fieldloop.app.logic.LocationReading

fun Location.toReading() = LocationReading(
    lat = latitude,
    lon = longitude,
    accuracyM = accuracy.toDouble(),
    provider = provider ?: "fused",
    mock = if (Build.VERSION.SDK_INT >= 31) isMock else @Suppress("DEPRECATION") isFromMockProvider,
    timeMs = time,
)

/** Location updates every `intervalMs` until `stop()`; the caller holds the permission. */
class LocationSource(context: Context, private val intervalMs: Long, private val onReading: (LocationReading) -> Unit) {
    private val client = LocationServices.getFusedLocationProviderClient(context)
    private val callback = object : LocationCallback() {
        override fun onLocationResult(result: LocationResult) {
            result.locations.forEach { onReading(it.toReading()) }
        }
    }

    @SuppressLint("MissingPermission")
    fun start() {
        val request = LocationRequest.Builder(Priority.PRIORITY_HIGH_ACCURACY, intervalMs).build()
        client.requestLocationUpdates(request, callback, Looper.getMainLooper())
    }

    fun stop() {
        client.removeLocationUpdates(callback)
    }
}
