# Build the Windows installer: PyInstaller bundle (no console) + Inno Setup.
#   powershell -ExecutionPolicy Bypass -File installers\windows\build.ps1
# Needs: the venv with the `build` extra (uv sync --extra gui --extra build), Inno Setup 6 (ISCC.exe on
# PATH or in its default folder; `choco install innosetup` on CI runners).
# Output: dist\lcai-tray\ (bundle), dist\lcai-worker-tray-<version>-windows-x64-setup.exe, dist\SHA256SUMS
$ErrorActionPreference = "Stop"
$Root = (Resolve-Path "$PSScriptRoot\..\..").Path
$Py = if ($env:PYTHON) { $env:PYTHON } else { "$Root\.venv\Scripts\python.exe" }
$Dist = if ($env:LCAI_DIST) { $env:LCAI_DIST } else { "$Root\dist" }
$Work = if ($env:LCAI_BUILD) { $env:LCAI_BUILD } else { "$Root\build\pyinstaller" }

function Invoke-Checked([string]$Exe, [string[]]$Arguments) {
    & $Exe @Arguments
    if ($LASTEXITCODE -ne 0) { throw "$Exe failed with exit code $LASTEXITCODE" }
}

$Version = (& $Py "$Root\installers\version.py").Trim()
$NumVersion = $Version -replace '^(\d+(\.\d+){0,3}).*$', '$1'   # 1.2.3rc1 -> 1.2.3 for the file version
Write-Host "==> lcai-worker-tray $Version"
Invoke-Checked $Py @("$Root\installers\make_icons.py", "$Work\icons")
Invoke-Checked $Py @("-m", "PyInstaller", "--noconfirm", "--log-level", "WARN", "--distpath", $Dist, "--workpath", $Work,
    "$Root\installers\pyinstaller\lcai-tray.spec", "--", "--icons", "$Work\icons")
Invoke-Checked "$Dist\lcai-tray\lcai-tray-cli.exe" @("--bundle-info")

$Iscc = (Get-Command iscc.exe -ErrorAction SilentlyContinue)
$Iscc = if ($Iscc) { $Iscc.Source } else { "${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe" }
if (-not (Test-Path $Iscc)) { throw "Inno Setup 6 (ISCC.exe) not found: choco install innosetup" }
Invoke-Checked $Iscc @("/Q", "/DAppVersion=$Version", "/DAppNumVersion=$NumVersion", "/DSourceDir=$Dist\lcai-tray", "/DIconFile=$Work\icons\lcai-tray.ico",
    "/O$Dist", "$Root\installers\windows\lcai-tray.iss")

$Setup = "lcai-worker-tray-$Version-windows-x64-setup.exe"
$Sums = "$Dist\SHA256SUMS"
$Hash = (Get-FileHash -Algorithm SHA256 "$Dist\$Setup").Hash.ToLower()
$Lines = @()
if (Test-Path $Sums) { $Lines = @(Get-Content $Sums | Where-Object { $_ -notmatch "  $([regex]::Escape($Setup))$" }) }
$Lines += "$Hash  $Setup"
[IO.File]::WriteAllText($Sums, (($Lines | Sort-Object { $_.Substring(66) }) -join "`n") + "`n")
Write-Host "    installer: $Dist\$Setup ($([math]::Round((Get-Item "$Dist\$Setup").Length / 1MB)) MB)"
