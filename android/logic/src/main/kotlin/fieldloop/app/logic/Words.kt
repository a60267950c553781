// What the screens say, in Chinese, computed from the bindings' records: one place, so
// the Android and iOS apps show the same words.
package fieldloop.app.logic

import uniffi.fieldloop_core.Band
import uniffi.fieldloop_ffi.FieldException

object Words {
    fun band(band: Band?): String = when (band) {
        Band.GREEN -> "正常"
        Band.YELLOW -> "预警"
        Band.RED -> "超期"
        Band.ESCALATED -> "督办"
        null -> "无时限"
    }

    /** "剩余 2 工作时 15 分" / "超期 40 分" from working minutes. */
    fun countdown(minutes: Long?): String {
        if (minutes == null) return "无时限"
        val m = Math.abs(minutes)
        val text = if (m >= 60) "${m / 60} 工作时 ${m % 60} 分" else "$m 分"
        return if (minutes < 0) "超期 $text" else "剩余 $text"
    }

    /** A bindings error as the person reads it, and whether retrying later may help. */
    fun error(e: FieldException): String = when (e) {
        is FieldException.Offline -> "网络不可用, 已保存在手机上, 联网后自动同步"
        is FieldException.Unauthorized -> "登录已失效, 请重新登录"
        is FieldException.Forbidden -> "无权操作: ${e.reason}"
        is FieldException.InvalidInput -> "请检查 ${field(e.field)}: ${e.reason}"
        is FieldException.PhotoUnreadable -> "照片无法使用, 请重拍: ${e.reason}"
        is FieldException.NotFound -> "未找到: ${e.what}"
        is FieldException.Server -> "服务器拒绝: ${e.reason}"
        is FieldException.Storage -> "手机存储出错: ${e.reason}"
        is FieldException.DeviceKeyUnavailable -> "设备签名密钥无法从系统密钥库取出, 取证照片无法签名. 请解锁手机后重新打开应用; 仍不行请联系管理员, 不要自行卸载重装: ${e.reason}"
        is FieldException.Cancelled -> "已取消"
    }

    private fun field(name: String): String = when (name) {
        "category" -> "问题类别"
        "position" -> "位置"
        "username" -> "用户名"
        "reason" -> "原因"
        else -> name
    }
}
