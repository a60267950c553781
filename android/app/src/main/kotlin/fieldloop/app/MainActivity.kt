// The Compose UI: thin screens over the logic module's state holders. Blocking bindings
// calls run on Dispatchers.IO; suspend ones are awaited in coroutines.
package fieldloop.app

import android.Manifest
import android.content.Intent
import android.os.Build
import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.background
import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.size
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.Button
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.unit.dp
import fieldloop.app.logic.CaptureModel
import fieldloop.app.logic.Colour
import fieldloop.app.logic.InboxModel
import fieldloop.app.logic.PatrolRecorder
import fieldloop.app.logic.SessionModel
import fieldloop.app.logic.SessionState
import fieldloop.app.logic.SyncModel
import fieldloop.app.logic.VerifyModel
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

class MainActivity : ComponentActivity() {
    private val permissions = registerForActivityResult(ActivityResultContracts.RequestMultiplePermissions()) {}
    // Android 11+: background location is a separate request that opens Settings.
    private val backgroundLocation = registerForActivityResult(ActivityResultContracts.RequestPermission()) {}

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val app = application as FieldloopApp
        app.openError?.let { message ->
            setContent { MaterialTheme { Text(message, Modifier.padding(24.dp)) } }
            return
        }
        val phone = app.phone
        val asks = mutableListOf(Manifest.permission.CAMERA, Manifest.permission.ACCESS_FINE_LOCATION)
        if (Build.VERSION.SDK_INT >= 33) asks += Manifest.permission.POST_NOTIFICATIONS
        permissions.launch(asks.toTypedArray())
        val session = SessionModel(phone, "${Build.MANUFACTURER} ${Build.MODEL}")
        val sync = SyncModel(phone)
        val inbox = InboxModel(phone)
        setContent {
            MaterialTheme {
                val state by session.state.collectAsState()
                when (state) {
                    is SessionState.LoggedIn -> Home(phone, inbox, sync, onPatrol = ::startPatrolService,
                        onBackgroundLocation = {
                            if (Build.VERSION.SDK_INT >= 29) backgroundLocation.launch(Manifest.permission.ACCESS_BACKGROUND_LOCATION)
                        })
                    else -> Login(session, (state as? SessionState.Failed)?.message)
                }
            }
        }
    }

    private fun startPatrolService() {
        startForegroundService(Intent(this, PatrolService::class.java))
    }
}

@Composable
fun Login(session: SessionModel, error: String?) {
    var user by remember { mutableStateOf("") }
    var password by remember { mutableStateOf("") }
    val scope = rememberCoroutineScope()
    Column(Modifier.padding(24.dp)) {
        OutlinedTextField(user, { user = it }, label = { Text("用户名") })
        OutlinedTextField(password, { password = it }, label = { Text("密码") })
        Button(onClick = { scope.launch(Dispatchers.IO) { session.login(user, password) } }) { Text("登录") }
        error?.let { Text(it, color = Color.Red) }
    }
}

@Composable
fun Home(
    phone: uniffi.fieldloop_ffi.FieldPhone,
    inbox: InboxModel,
    sync: SyncModel,
    onPatrol: () -> Unit,
    onBackgroundLocation: () -> Unit,
) {
    val scope = rememberCoroutineScope()
    val syncState by sync.state.collectAsState()
    val rows by inbox.state.collectAsState()
    var screen by remember { mutableStateOf("inbox") }
    Column {
        Row(Modifier.fillMaxWidth().padding(8.dp)) {
            Text(syncState.error ?: syncState.line, Modifier.weight(1f))
            Button(onClick = {
                scope.launch(Dispatchers.IO) { sync.syncNow(); inbox.refresh() }
            }, enabled = !syncState.running) { Text("同步") }
            if (syncState.running) Button(onClick = { sync.cancel() }) { Text("取消") }
        }
        Row {
            Button(onClick = { screen = "inbox" }) { Text("任务") }
            Button(onClick = { screen = "capture" }) { Text("上报") }
            Button(onClick = { screen = "patrol" }) { Text("巡查") }
        }
        when (screen) {
            "capture" -> CaptureScreen(remember { CaptureModel(phone) })
            "patrol" -> PatrolScreen(remember { PatrolRecorder(phone) }, onPatrol, onBackgroundLocation)
            else -> LazyColumn {
                items(rows.rows) { row ->
                    Row(Modifier.fillMaxWidth().padding(8.dp).clickable { screen = "case:${row.id}" }) {
                        Text("●", color = colourOf(row.colour), modifier = Modifier.size(24.dp))
                        Column {
                            Text(row.title)
                            Text("${row.bandLabel} · ${row.countdown}")
                        }
                    }
                }
            }
        }
        if (screen.startsWith("case:")) VerifyScreen(remember(screen) { VerifyModel(phone, screen.removePrefix("case:")) })
    }
}

fun colourOf(c: Colour) = when (c) {
    Colour.GREEN -> Color(0xFF2E7D32)
    Colour.YELLOW -> Color(0xFFF9A825)
    Colour.RED -> Color(0xFFC62828)
    Colour.PURPLE -> Color(0xFF6A1B9A)
    Colour.GREY -> Color.Gray
}

@Composable
fun CaptureScreen(model: CaptureModel) {
    val state by model.state.collectAsState()
    val scope = rememberCoroutineScope()
    Column(Modifier.padding(8.dp)) {
        OutlinedTextField(state.query, { model.search(it) }, label = { Text("问题类别 (代码或名称)") })
        state.categories.take(8).forEach { c ->
            Text("${c.key} ${c.major}/${c.name}", Modifier.clickable { model.pick(c) })
        }
        Text(state.category?.let { "类别: ${it.name}" } ?: "未选择类别")
        Text(state.gridCell?.let { "网格: $it" } ?: "网格: 未定位")
        state.locationWarning?.let { Text(it, color = Color(0xFFF9A825)) }
        CameraButton { path -> model.photoTaken(path) }
        Text("照片 ${state.photos.size} 张")
        OutlinedTextField(state.description, { model.describe(it) }, label = { Text("描述") })
        Button(onClick = { scope.launch { model.save() } }, enabled = state.canSave) { Text("保存 (离线)") }
        state.error?.let { Text(it, color = Color.Red) }
    }
}

@Composable
fun VerifyScreen(model: VerifyModel) {
    val state by model.state.collectAsState()
    Column(Modifier.padding(8.dp).background(Color(0xFFFFF8E1))) {
        Text("核查")
        state.warnings.forEach { Text("⚠ $it", color = Color(0xFFC62828)) }
        if (state.submitted) Text("已提交, 等待服务器核验")
        state.error?.let { Text(it, color = Color.Red) }
    }
}

@Composable
fun PatrolScreen(recorder: PatrolRecorder, onStart: () -> Unit, onBackgroundLocation: () -> Unit) {
    val state by recorder.state.collectAsState()
    val scope = rememberCoroutineScope()
    // Started again after being killed: the open patrol comes back paused or recording.
    LaunchedEffect(recorder) {
        if (withContext(Dispatchers.IO) { recorder.restore() }) {
            Recorders.current = recorder
            onStart()
        }
    }
    Column(Modifier.padding(8.dp)) {
        if (state.patrolId == null) {
            Button(onClick = {
                scope.launch {
                    withContext(Dispatchers.IO) { recorder.startRiver("xixi-01") }
                    Recorders.current = recorder
                    onBackgroundLocation()
                    onStart()
                }
            }) { Text("开始巡河") }
        } else {
            Text("${state.distanceText} · ${state.durationText}")
            state.coverageText?.let { Text(it) }
            Row {
                if (state.paused) Button(onClick = { recorder.resume() }) { Text("继续") }
                else Button(onClick = { recorder.pause() }) { Text("暂停") }
                Button(onClick = { scope.launch(Dispatchers.IO) { recorder.end() } }) { Text("结束") }
            }
            TrackMap(state.live)
        }
        state.error?.let { Text(it, color = Color.Red) }
    }
}
