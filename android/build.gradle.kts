plugins {
    id("com.android.application") version "8.7.3" apply false
    id("org.jetbrains.kotlin.android") version "2.1.0" apply false
    id("org.jetbrains.kotlin.jvm") version "2.1.0" apply false
    id("org.jetbrains.kotlin.plugin.compose") version "2.1.0" apply false
}

// The generated Kotlin bindings, from the same script the tests use (library mode).
val generateBindings by tasks.registering(Exec::class) {
    workingDir = rootDir.parentFile
    commandLine("bash", "scripts/bindings-generate", "${rootDir}/build/bindings")
}
