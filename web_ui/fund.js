// Send the exact funding amount from window.ethereum (EIP-1193): add/switch the chain, then eth_sendTransaction.
import { $, api, el, header, lcai, parseLcai, showError, showNotice, toBig } from "./app.js";

header();
let funding = null;

async function load() {
  let st = null;
  try {
    const ob = await api("/api/onboarding");
    st = await api("/api/status");
    funding = ob.funding || null;
    if (!funding) funding = st.address ? { address: st.address, balance_wei: st.wallet_wei, threshold_wei: "0", chain: null } : null;
  } catch (e) { showError(e); return; }
  if (!funding) { showError({ message: "There is no worker key yet.", fix: "Finish the first setup steps (network, models, password)." }); $("#send").disabled = true; return; }
  const bal = toBig(funding.balance_wei), thr = toBig(funding.threshold_wei);
  // registered: the registration sum is not asked again; what is missing is the stake below the minimum (if any)
  const stakeMissing = st?.registered && toBig(st.min_stake_wei) > toBig(st.stake_wei) ? toBig(st.min_stake_wei) - toBig(st.stake_wei) : 0n;
  const missing = st?.registered ? stakeMissing : thr > bal ? thr - bal : 0n;
  $("#chain").textContent = funding.chain ? `${funding.chain.name} (chain id ${parseInt(funding.chain.chain_id_hex, 16)})` : "—";
  const explorer = funding.chain?.explorer_url;
  $("#address").parentElement.replaceChildren(el("code", { id: "address" }, funding.address),
    explorer ? el("a", { href: `${explorer}/address/${funding.address}`, target: "_blank", rel: "noopener" }, " view in the explorer") : "");
  $("#balance").textContent = lcai(bal);
  $("#needed").textContent = st?.registered
    ? (missing > 0n ? `${lcai(missing)} to bring the stake to the minimum (then use Top up the stake)` : "nothing: the worker is registered and its stake is complete")
    : missing > 0n ? `${lcai(missing)} more (stake + gas)` : "nothing more: the wallet is funded";
  const amount = $("#amount");
  if (!amount.value && missing > 0n) amount.value = weiToDecimal(missing);
}

function weiToDecimal(w) {
  const s = w.toString().padStart(19, "0");
  const whole = s.slice(0, -18), frac = s.slice(-18).replace(/0+$/, "");
  return frac ? `${whole}.${frac}` : whole;
}

function walletStatus(text, kind = "") { $("#wallet-status").replaceChildren(el("span", { class: kind }, text)); }

$("#send").addEventListener("click", async () => {
  const eth = window.ethereum;
  const wei = parseLcai($("#amount").value);
  if (wei === null || wei <= 0n) {
    $("#amount-msg").textContent = "Type the amount in LCAI, e.g. 5050";
    $("#amount-msg").className = "field-msg bad";
    $("#amount").setAttribute("aria-invalid", "true");
    return;
  }
  $("#amount").setAttribute("aria-invalid", "false");
  $("#amount-msg").textContent = "";
  if (!eth) {
    showError({ code: "no_wallet", message: "No browser wallet found on this page.",
      fix: "Open this page in a browser with a wallet extension (e.g. MetaMask), or scan the QR code on the setup page with a mobile wallet." });
    return;
  }
  const chain = funding.chain;
  try {
    walletStatus("Waiting for the wallet to connect…");
    const [from] = await eth.request({ method: "eth_requestAccounts" });
    if (chain?.chain_id_hex) {
      walletStatus(`Switching the wallet to ${chain.name}…`);
      try {
        await eth.request({ method: "wallet_switchEthereumChain", params: [{ chainId: chain.chain_id_hex }] });
      } catch (e) {
        if (e.code !== 4902 && e?.data?.originalError?.code !== 4902) throw e;
        await eth.request({ method: "wallet_addEthereumChain", params: [{ chainId: chain.chain_id_hex, chainName: chain.name,
          nativeCurrency: { name: chain.symbol || "LCAI", symbol: chain.symbol || "LCAI", decimals: 18 }, rpcUrls: [chain.rpc_url],
          blockExplorerUrls: chain.explorer_url ? [chain.explorer_url] : undefined }] });
      }
    }
    walletStatus("Approve the transfer in your wallet…");
    const tx = await eth.request({ method: "eth_sendTransaction", params: [{ from, to: funding.address,
      value: "0x" + wei.toString(16), gas: "0x5208", ...(funding.tx_fees || {}) }] });
    const txUrl = funding.chain?.explorer_url ? `${funding.chain.explorer_url}/tx/${tx}` : null;
    showNotice(`Sent. Transaction ${tx}${txUrl ? ` (${txUrl})` : ""}. The balance updates here and setup continues by itself.`, "ok");
    walletStatus("");
  } catch (e) {
    walletStatus("");
    const rejected = e?.code === 4001;
    showError({ code: rejected ? "rejected" : "wallet_error", message: rejected ? "You rejected the request in the wallet." : (e?.message || "The wallet reported an error."),
      fix: rejected ? "Press the button again when ready." : "Check the wallet's network and balance, then try again." });
  }
});
load();
setInterval(load, 5000);
