; Inno Setup script: Windows installer of lcai-worker-tray (one click, per user, no admin rights).
; Built by installers/windows/build.ps1 on a Windows runner (Inno Setup 6: ISCC.exe), which passes:
;   /DAppVersion=<tray_agent.__version__>  /DAppNumVersion=<its numeric part>  /DSourceDir=<dist\lcai-tray>
;   /DIconFile=<lcai-tray.ico>
; Installs the PyInstaller folder bundle: lcai-tray.exe (the tray, no console window) and
; lcai-tray-cli.exe (the same program with a console, for `lcai-tray-cli status` in a terminal).
; A running lcai-tray is closed through the Restart Manager (CloseApplications) before files are
; replaced or removed; the worker container keeps running. Uninstalling removes the program only: keys,
; settings and logs in %LOCALAPPDATA%\lcai-worker-tray stay (the keys are in Windows Credential Manager).
; (No "lcai-tray-cli shutdown" here: today that command starts an agent when none runs.)

#ifndef AppVersion
  #error Pass /DAppVersion=<version> (installers/windows/build.ps1 does)
#endif
#ifndef SourceDir
  #define SourceDir "..\..\dist\lcai-tray"
#endif
#define AppName "LCAI Worker Tray"
#define AppExe "lcai-tray.exe"

[Setup]
AppId={{6B0E2C3A-4F1D-4C8B-9B8E-1C7A5D2E9F40}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=lcai-worker-tray contributors
#ifdef AppNumVersion
; numeric only (1.2.3); AppVersion may carry a pre-release suffix (1.2.3rc1)
VersionInfoVersion={#AppNumVersion}
#endif
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
DisableDirPage=auto
DisableReadyPage=yes
; per-user by default (no UAC prompt); an administrator may choose "all users"
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputBaseFilename=lcai-worker-tray-{#AppVersion}-windows-x64-setup
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
CloseApplications=yes
RestartApplications=no
#ifdef IconFile
SetupIconFile={#IconFile}
#endif

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#AppExe}"; Comment: "Run and keep online a LightChain AI worker"
Name: "{group}\{#AppName} dashboard"; Filename: "{app}\{#AppExe}"; Parameters: "open"; Comment: "Open the dashboard"
Name: "{group}\Uninstall {#AppName}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
; first launch opens onboarding (the app does that when no worker is set up yet)
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
