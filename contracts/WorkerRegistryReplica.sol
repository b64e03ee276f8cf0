// SPDX-License-Identifier: MIT
// Local replica of LightChain WorkerRegistry (predeploy 0x...1002) for anvil tests (spec/replica.md §3).
// Placed with anvil_setCode, so it has no constructor logic: everything is set by initialize().
pragma solidity 0.8.28;

interface IAIConfigView {
    function getMinWorkerStake() external view returns (uint256);
    function isModelEnabled(bytes32 modelId) external view returns (bool);
    function getSuspensionThreshold() external view returns (uint256);
    function getSuspensionCooldown() external view returns (uint256);
    function getTimeoutBountyBps() external view returns (uint256);
}

contract WorkerRegistryReplica {
    struct Worker {
        bool registered;
        bool suspended;
        uint256 stake;
        bytes encryptionKey;
        bytes32[] models;
        uint256 activeJobs;
        uint256 offenseCount;
        uint256 suspendedUntil;
        uint256 capabilities;
    }

    bool private _initialized;
    address public owner;
    address public aiConfig;
    address public jobRegistry;
    address public treasury;
    address public guardian;
    uint256 private _slashedFunds;
    bool public resetOffensesOnReinstate;
    bool private _paused; // never set: real pause behaviour is out of scope
    mapping(bytes32 => uint256) private _capabilityMasks;

    mapping(address => Worker) private _workers;
    mapping(address => mapping(bytes32 => bool)) private _supports;
    mapping(address => mapping(bytes32 => uint32)) private _activePerModel;
    mapping(bytes32 => bool) private _whitelisted;
    mapping(bytes32 => address[]) private _eligible;
    mapping(bytes32 => mapping(address => uint256)) private _eligibleIdx; // 1-based

    event WorkerRegistered(address indexed worker, bytes encryptionPubKey);
    event WorkerDeregistered(address indexed worker);
    event ModelAdded(address indexed worker, bytes32 indexed modelId);
    event ModelRemoved(address indexed worker, bytes32 indexed modelId);
    event ModelWhitelisted(bytes32 indexed modelId);
    event ModelDelisted(bytes32 indexed modelId);
    event StakeTopUp(address indexed worker, uint256 amount, uint256 newStake);
    event StakeWithdrawn(address indexed worker, uint256 amount, uint256 newStake);
    event WorkerSlashed(address indexed worker, uint256 amount, uint256 newStake);
    event WorkerDeactivated(address indexed worker, bytes32 indexed modelId);
    event WorkerSuspended(address indexed worker, uint256 until);
    event WorkerReinstated(address indexed worker);
    event WorkerCapabilitiesSet(address indexed worker, uint256 mask);
    event OffensesReset(address indexed worker, uint32 previousCount);
    event SlashedFundsWithdrawn(address indexed to, uint256 amount);

    error ActiveJobsExist(address worker, uint256 activeJobCount);
    error ActiveJobsExistForModel(address worker, bytes32 modelId, uint32 count);
    error InsufficientStake(uint256 required, uint256 provided);
    error InvalidEncryptionKey();
    error ModelAlreadySupported(bytes32 modelId);
    error ModelNotRegistered(bytes32 modelId);
    error ModelNotSupported(bytes32 modelId);
    error ModelNotWhitelisted(bytes32 modelId);
    error NotAuthorized(address caller);
    error StillSuspended(address worker, uint256 until);
    error TransferFailed();
    error UnknownCapabilityBits(uint256 mask);
    error WorkerAlreadyRegistered(address worker);
    error WorkerIsSuspended(address worker, uint256 until);
    error WorkerNotRegistered(address worker);
    error WorkerNotSuspended(address worker);
    error EnforcedPause();
    error OwnableUnauthorizedAccount(address account);
    error InvalidInitialization();
    error NoSlashedFunds();

    modifier onlyOwner() {
        if (msg.sender != owner) revert OwnableUnauthorizedAccount(msg.sender);
        _;
    }

    modifier onlyJobRegistry() {
        if (msg.sender != jobRegistry) revert NotAuthorized(msg.sender);
        _;
    }

    modifier onlyRegistered() {
        if (!_workers[msg.sender].registered) revert WorkerNotRegistered(msg.sender);
        _;
    }

    function initialize(
        address _initialOwner,
        address _aiConfig,
        address _jobRegistry,
        address _treasury,
        address _guardian
    ) external {
        if (_initialized) revert InvalidInitialization();
        _initialized = true;
        owner = _initialOwner;
        aiConfig = _aiConfig;
        jobRegistry = _jobRegistry;
        treasury = _treasury;
        guardian = _guardian;
    }

    // ---- worker transactions ----
    function registerWorker(bytes calldata encryptionPubKey) external payable {
        Worker storage w = _workers[msg.sender];
        if (w.registered) revert WorkerAlreadyRegistered(msg.sender);
        if (encryptionPubKey.length != 65 || encryptionPubKey[0] != 0x04) revert InvalidEncryptionKey();
        uint256 min = _minStake();
        if (msg.value < min) revert InsufficientStake(min, msg.value);
        w.registered = true;
        w.stake = msg.value;
        w.encryptionKey = encryptionPubKey;
        emit WorkerRegistered(msg.sender, encryptionPubKey);
    }

    function addSupportedModel(bytes32 modelId) external onlyRegistered {
        if (!_whitelisted[modelId]) revert ModelNotWhitelisted(modelId);
        if (!IAIConfigView(aiConfig).isModelEnabled(modelId)) revert ModelNotRegistered(modelId);
        if (_supports[msg.sender][modelId]) revert ModelAlreadySupported(modelId);
        _supports[msg.sender][modelId] = true;
        Worker storage w = _workers[msg.sender];
        w.models.push(modelId);
        if (_canBeEligible(w)) _addEligible(modelId, msg.sender);
        emit ModelAdded(msg.sender, modelId);
    }

    function removeSupportedModel(bytes32 modelId) external {
        if (!_supports[msg.sender][modelId]) revert ModelNotSupported(modelId);
        uint32 active = _activePerModel[msg.sender][modelId];
        if (active > 0) revert ActiveJobsExistForModel(msg.sender, modelId, active);
        _supports[msg.sender][modelId] = false;
        bytes32[] storage list = _workers[msg.sender].models;
        for (uint256 i = 0; i < list.length; i++) {
            if (list[i] == modelId) {
                list[i] = list[list.length - 1];
                list.pop();
                break;
            }
        }
        _removeEligible(modelId, msg.sender);
        emit ModelRemoved(msg.sender, modelId);
    }

    function deregisterWorker() external onlyRegistered {
        Worker storage w = _workers[msg.sender];
        if (w.activeJobs > 0) revert ActiveJobsExist(msg.sender, w.activeJobs);
        bytes32[] storage list = w.models;
        for (uint256 i = 0; i < list.length; i++) {
            _supports[msg.sender][list[i]] = false;
            _removeEligible(list[i], msg.sender);
        }
        uint256 refund = w.stake;
        delete _workers[msg.sender];
        (bool ok, ) = payable(msg.sender).call{value: refund}("");
        if (!ok) revert TransferFailed();
        emit WorkerDeregistered(msg.sender);
    }

    function topUpStake() external payable onlyRegistered {
        Worker storage w = _workers[msg.sender];
        w.stake += msg.value;
        _syncEligibility(msg.sender);
        emit StakeTopUp(msg.sender, msg.value, w.stake);
    }

    function withdrawStake(uint256 amount) external onlyRegistered {
        Worker storage w = _workers[msg.sender];
        uint256 min = _minStake();
        if (amount > w.stake) revert InsufficientStake(amount, w.stake);
        uint256 remaining = w.stake - amount;
        if (remaining < min && w.models.length > 0) revert InsufficientStake(min, remaining);
        w.stake = remaining;
        _syncEligibility(msg.sender);
        (bool ok, ) = payable(msg.sender).call{value: amount}("");
        if (!ok) revert TransferFailed();
        emit StakeWithdrawn(msg.sender, amount, remaining);
    }

    function reinstate() external {
        Worker storage w = _workers[msg.sender];
        if (!w.suspended) revert WorkerNotSuspended(msg.sender);
        if (block.timestamp < w.suspendedUntil) revert StillSuspended(msg.sender, w.suspendedUntil);
        uint256 min = _minStake();
        if (w.stake < min) revert InsufficientStake(min, w.stake);
        w.suspended = false;
        if (resetOffensesOnReinstate) w.offenseCount = 0;
        _syncEligibility(msg.sender);
        emit WorkerReinstated(msg.sender);
    }

    function setCapabilities(uint256 mask) external onlyRegistered {
        if (mask != 0) revert UnknownCapabilityBits(mask); // no capabilities registered in the replica
        _workers[msg.sender].capabilities = mask;
        emit WorkerCapabilitiesSet(msg.sender, mask);
    }

    // ---- views ----
    function isWorkerRegistered(address worker) external view returns (bool) { return _workers[worker].registered; }
    function getWorkerStake(address worker) external view returns (uint256) { return _workers[worker].stake; }
    function getWorkerEncryptionKey(address worker) external view returns (bytes memory) {
        return _workers[worker].encryptionKey;
    }
    function workerSupportsModel(address worker, bytes32 modelId) external view returns (bool) {
        return _supports[worker][modelId];
    }
    function isEligible(address worker, bytes32 modelId) external view returns (bool) {
        Worker storage w = _workers[worker];
        return w.registered && _supports[worker][modelId] && _whitelisted[modelId]
            && IAIConfigView(aiConfig).isModelEnabled(modelId) && _canBeEligible(w);
    }
    function getEligibleWorkers(bytes32 modelId) external view returns (address[] memory) { return _eligible[modelId]; }
    function getActiveJobCount(address worker) external view returns (uint256) { return _workers[worker].activeJobs; }
    function isWorkerSuspended(address worker) external view returns (bool) { return _workers[worker].suspended; }
    function getSuspendedUntil(address worker) external view returns (uint256) { return _workers[worker].suspendedUntil; }
    function getOffenseCount(address worker) external view returns (uint256) { return _workers[worker].offenseCount; }
    function isModelWhitelisted(bytes32 modelId) external view returns (bool) { return _whitelisted[modelId]; }
    function getWorkerCapabilities(address worker) external view returns (uint256) {
        return _workers[worker].capabilities;
    }
    function getCapabilityMask(string calldata name) external view returns (uint256) {
        return _capabilityMasks[keccak256(bytes(name))]; // none registered in the replica: always 0
    }
    function paused() external view returns (bool) { return _paused; }
    function getSlashedFunds() external view returns (uint256) { return _slashedFunds; }
    function getTreasury() external view returns (address) { return treasury; }

    // ---- JobRegistry-only ----
    function incrementActiveJobs(address worker, bytes32 modelId) external onlyJobRegistry {
        _workers[worker].activeJobs += 1;
        _activePerModel[worker][modelId] += 1;
    }

    function decrementActiveJobs(address worker, bytes32 modelId) external onlyJobRegistry {
        Worker storage w = _workers[worker];
        if (w.activeJobs > 0) w.activeJobs -= 1;
        if (_activePerModel[worker][modelId] > 0) _activePerModel[worker][modelId] -= 1;
    }

    function slash(address worker, uint256 bps) external onlyJobRegistry {
        _slash(worker, bps, address(0));
    }

    function slashWithBounty(address worker, uint256 bps, address bountyRecipient)
        external
        onlyJobRegistry
        returns (uint256 slashAmount, uint256 bountyPaid)
    {
        return _slash(worker, bps, bountyRecipient);
    }

    // ---- owner ----
    function addWhitelistedModel(bytes32 modelId) external onlyOwner {
        _whitelisted[modelId] = true;
        emit ModelWhitelisted(modelId);
    }

    function removeWhitelistedModel(bytes32 modelId) external onlyOwner {
        _whitelisted[modelId] = false;
        emit ModelDelisted(modelId);
    }

    function resetOffenses(address worker) external onlyOwner {
        uint256 prev = _workers[worker].offenseCount;
        _workers[worker].offenseCount = 0;
        emit OffensesReset(worker, uint32(prev));
    }

    function withdrawSlashedFunds() external onlyOwner {
        uint256 amount = _slashedFunds;
        if (amount == 0) revert NoSlashedFunds();
        _slashedFunds = 0;
        (bool ok, ) = payable(treasury).call{value: amount}("");
        if (!ok) revert TransferFailed();
        emit SlashedFundsWithdrawn(treasury, amount);
    }

    // ---- test-only helpers ----
    function testForceSuspend(address worker, uint256 until) external onlyOwner {
        Worker storage w = _workers[worker];
        w.suspended = true;
        w.suspendedUntil = until;
        _syncEligibility(worker);
        emit WorkerSuspended(worker, until);
    }

    function testSetStake(address worker, uint256 stake) external onlyOwner {
        _workers[worker].stake = stake;
        _syncEligibility(worker);
    }

    function testSetResetOffensesOnReinstate(bool reset) external onlyOwner {
        resetOffensesOnReinstate = reset;
    }

    // ---- internals ----
    function _minStake() private view returns (uint256) {
        return IAIConfigView(aiConfig).getMinWorkerStake();
    }

    function _canBeEligible(Worker storage w) private view returns (bool) {
        return w.registered && !w.suspended && w.stake >= _minStake();
    }

    function _syncEligibility(address worker) private {
        Worker storage w = _workers[worker];
        bool ok = _canBeEligible(w);
        for (uint256 i = 0; i < w.models.length; i++) {
            if (ok) _addEligible(w.models[i], worker);
            else _removeEligible(w.models[i], worker);
        }
    }

    function _addEligible(bytes32 modelId, address worker) private {
        if (_eligibleIdx[modelId][worker] != 0) return;
        _eligible[modelId].push(worker);
        _eligibleIdx[modelId][worker] = _eligible[modelId].length;
    }

    function _removeEligible(bytes32 modelId, address worker) private {
        uint256 idx = _eligibleIdx[modelId][worker];
        if (idx == 0) return;
        address[] storage list = _eligible[modelId];
        address last = list[list.length - 1];
        list[idx - 1] = last;
        _eligibleIdx[modelId][last] = idx;
        list.pop();
        _eligibleIdx[modelId][worker] = 0;
    }

    function _slash(address worker, uint256 bps, address bountyRecipient)
        private
        returns (uint256 amount, uint256 bounty)
    {
        Worker storage w = _workers[worker];
        IAIConfigView cfg = IAIConfigView(aiConfig);
        uint256 min = cfg.getMinWorkerStake();
        amount = (min * bps) / 10000;
        if (amount > w.stake) amount = w.stake;
        bool wasStaked = w.stake >= min;
        w.stake -= amount;
        if (bountyRecipient != address(0)) bounty = (amount * cfg.getTimeoutBountyBps()) / 10000;
        _slashedFunds += amount - bounty;
        w.offenseCount += 1;
        emit WorkerSlashed(worker, amount, w.stake);
        if (wasStaked && w.stake < min) {
            for (uint256 i = 0; i < w.models.length; i++) {
                _removeEligible(w.models[i], worker);
                emit WorkerDeactivated(worker, w.models[i]);
            }
        }
        uint256 threshold = cfg.getSuspensionThreshold();
        if (threshold > 0 && w.offenseCount >= threshold && !w.suspended) {
            w.suspended = true;
            w.suspendedUntil = block.timestamp + cfg.getSuspensionCooldown();
            _syncEligibility(worker);
            emit WorkerSuspended(worker, w.suspendedUntil);
        }
        if (bounty > 0) {
            (bool ok, ) = payable(bountyRecipient).call{value: bounty}("");
            if (!ok) revert TransferFailed();
        }
    }
}
