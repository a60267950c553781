// CameraX: a photo written to the app's files, its path handed to the logic (the core
// processes it: EXIF, orientation, resize, pHash).
package fieldloop.app

import androidx.camera.core.ImageCapture
import androidx.camera.core.ImageCaptureException
import androidx.camera.view.LifecycleCameraController
import androidx.camera.view.PreviewView
import androidx.compose.foundation.Canvas
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.height
import androidx.compose.material3.Button
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.remember
import androidx.compose.ui.Modifier
import androidx.compose.ui.geometry.Offset
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.platform.LocalLifecycleOwner
import androidx.compose.ui.unit.dp
import androidx.compose.ui.viewinterop.AndroidView
import androidx.core.content.ContextCompat
import java.io.File
import uniffi.fieldloop_ffi.PatrolLive

@Composable
fun CameraButton(onPhoto: (String) -> Unit) {
    val context = LocalContext.current
    val owner = LocalLifecycleOwner.current
    val controller = remember { LifecycleCameraController(context).also { it.bindToLifecycle(owner) } }
    Column {
        AndroidView({ PreviewView(it).also { v -> v.controller = controller } }, Modifier.fillMaxWidth().height(240.dp))
        Button(onClick = {
            val file = File(context.filesDir, "camera/${System.currentTimeMillis()}.jpg").also { it.parentFile?.mkdirs() }
            controller.takePicture(
                ImageCapture.OutputFileOptions.Builder(file).build(),
                ContextCompat.getMainExecutor(context),
                object : ImageCapture.OnImageSavedCallback {
                    override fun onImageSaved(output: ImageCapture.OutputFileResults) = onPhoto(file.path)
                    override fun onError(e: ImageCaptureException) {}
                },
            )
        }) { Text("拍照") }
    }
}

/** The recorded track, drawn to scale (a map SDK would take GCJ-02: `toMapDatum`). */
@Composable
fun TrackMap(live: PatrolLive?) {
    val points = live?.let { Recorders.track } ?: emptyList()
    Canvas(Modifier.fillMaxWidth().height(200.dp)) {
        if (points.size < 2) return@Canvas
        val minLat = points.minOf { it.first }; val maxLat = points.maxOf { it.first }
        val minLon = points.minOf { it.second }; val maxLon = points.maxOf { it.second }
        fun at(p: Pair<Double, Double>) = Offset(
            ((p.second - minLon) / (maxLon - minLon + 1e-9) * size.width).toFloat(),
            ((maxLat - p.first) / (maxLat - minLat + 1e-9) * size.height).toFloat(),
        )
        points.zipWithNext().forEach { (a, b) -> drawLine(Color.Blue, at(a), at(b), 4f) }
    }
}
