' Startup-folder entry of lcai-worker-tray (profile ${profile}); runs the agent hidden (no console window).
Set shell = CreateObject("WScript.Shell")
shell.Environment("PROCESS")("LCAI_TRAY_PROFILE") = "${profile}"
shell.Run "${vbs_command}", 0, False
