// SPDX-License-Identifier: MIT
// Local replica of LightChain AIConfig for anvil tests (spec/replica.md §2). Not the real contract.
// Documented deviation: no lower bounds on parameters, so tests can use second-scale windows.
pragma solidity 0.8.28;

contract AIConfigReplica {
    struct ModelCfg {
        bool registered;
        bool enabled;
        uint256 fee;
        uint256 maxOutputTokens;
    }

    address public owner;
    mapping(bytes32 => ModelCfg) private _models;

    uint256 private _minWorkerStake = 5 ether;
    uint256 private _workerFeeBps = 8000;
    uint256 private _protocolFeeBps = 1000;
    uint256 private _feePoolBps = 1000;
    uint256 private _disputeWindow = 3600;
    uint256 private _ackTimeout = 90;
    uint256 private _completionTimeout = 120;
    uint256 private _timeoutSlashBps = 200;
    uint256 private _completionTimeoutSlashBps = 500;
    uint256 private _disputeSlashBps = 1500;
    uint256 private _maxSlashBps = 5000;
    uint256 private _suspensionThreshold = 3;
    uint256 private _suspensionCooldown = 7 days;
    uint256 private _timeoutBountyBps;
    uint256 private _releaseBountyBps;
    uint256 private _maxConcurrentJobs = 2;
    uint256 private _sessionInactivityTimeout = 1 hours;
    uint256 private _maxReassignments = 3;
    uint256 private _disputeBondMultiplier = 2;
    uint256 private _resolutionTimeout = 1 days;
    bool private _sortitionEnabled;
    address private _sessionManager;
    address private _disputer;

    event ModelRegistered(bytes32 indexed modelId, uint256 fee, uint256 maxOutputTokens);
    event ModelConfigUpdated(bytes32 indexed modelId, uint256 fee, uint256 maxOutputTokens);
    event ModelEnabled(bytes32 indexed modelId);
    event ModelDisabled(bytes32 indexed modelId);
    event MinWorkerStakeUpdated(uint256 newStake);
    event FeeDistributionUpdated(uint256 workerBps, uint256 protocolBps, uint256 feePoolBps);
    event SlashingParamsUpdated(uint256 timeoutSlashBps, uint256 completionTimeoutSlashBps, uint256 disputeSlashBps);
    event SuspensionParamsUpdated(uint256 threshold, uint256 cooldown);
    event DisputeParamsUpdated(uint256 bondMultiplier, uint256 window, uint256 resolutionTimeout);
    event InfraParamsUpdated(string param, uint256 value);
    event KeeperParamsUpdated(uint256 timeoutBountyBps, uint256 releaseBountyBps);

    error OwnableUnauthorizedAccount(address account);
    error ModelAlreadyRegistered(bytes32 modelId);
    error ModelNotConfigured(bytes32 modelId);
    error ModelAlreadyEnabled(bytes32 modelId);
    error FeeInvariantViolation(uint256 sum, uint256 expected);
    error ParameterOutOfBounds(string param, uint256 value, uint256 min, uint256 max);

    modifier onlyOwner() {
        if (msg.sender != owner) revert OwnableUnauthorizedAccount(msg.sender);
        _;
    }

    constructor() {
        owner = msg.sender;
    }

    // ---- getters (worker ABI) ----
    function getMinWorkerStake() external view returns (uint256) { return _minWorkerStake; }
    function getWorkerFeeBps() external view returns (uint256) { return _workerFeeBps; }
    function getProtocolFeeBps() external view returns (uint256) { return _protocolFeeBps; }
    function getFeePoolBps() external view returns (uint256) { return _feePoolBps; }
    function getDisputeWindow() external view returns (uint256) { return _disputeWindow; }
    function getAckTimeout() external view returns (uint256) { return _ackTimeout; }
    function getCompletionTimeout() external view returns (uint256) { return _completionTimeout; }
    function getTimeoutSlashBps() external view returns (uint256) { return _timeoutSlashBps; }
    function getCompletionTimeoutSlashBps() external view returns (uint256) { return _completionTimeoutSlashBps; }
    function getDisputeSlashBps() external view returns (uint256) { return _disputeSlashBps; }
    function getMaxSlashBps() external view returns (uint256) { return _maxSlashBps; }
    function getSuspensionThreshold() external view returns (uint256) { return _suspensionThreshold; }
    function getSuspensionCooldown() external view returns (uint256) { return _suspensionCooldown; }
    function getTimeoutBountyBps() external view returns (uint256) { return _timeoutBountyBps; }
    function getReleaseBountyBps() external view returns (uint256) { return _releaseBountyBps; }
    function getMaxConcurrentJobs() external view returns (uint256) { return _maxConcurrentJobs; }
    function getSessionInactivityTimeout() external view returns (uint256) { return _sessionInactivityTimeout; }
    function getMaxReassignments() external view returns (uint256) { return _maxReassignments; }
    function getDisputeBondMultiplier() external view returns (uint256) { return _disputeBondMultiplier; }
    function getResolutionTimeout() external view returns (uint256) { return _resolutionTimeout; }
    function getModelFee(bytes32 modelId) public view returns (uint256) { return _models[modelId].fee; }
    function calculateJobFee(bytes32 modelId) external view returns (uint256) { return getModelFee(modelId); }
    function isModelEnabled(bytes32 modelId) external view returns (bool) { return _models[modelId].enabled; }
    function getModelMaxOutputTokens(bytes32 modelId) external view returns (uint256) {
        return _models[modelId].maxOutputTokens;
    }
    function getSortitionEnabled() external view returns (bool) { return _sortitionEnabled; }
    function getSessionManagerAddress() external view returns (address) { return _sessionManager; }
    function getDisputerAddress() external view returns (address) { return _disputer; }

    // ---- owner setters ----
    function registerModel(bytes32 modelId, uint256 fee, uint256 maxOutputTokens) external onlyOwner {
        ModelCfg storage m = _models[modelId];
        if (m.registered) revert ModelAlreadyRegistered(modelId);
        m.registered = true;
        m.fee = fee;
        m.maxOutputTokens = maxOutputTokens;
        emit ModelRegistered(modelId, fee, maxOutputTokens);
    }

    function enableModel(bytes32 modelId) external onlyOwner {
        ModelCfg storage m = _models[modelId];
        if (!m.registered) revert ModelNotConfigured(modelId);
        if (m.enabled) revert ModelAlreadyEnabled(modelId);
        m.enabled = true;
        emit ModelEnabled(modelId);
    }

    function disableModel(bytes32 modelId) external onlyOwner {
        ModelCfg storage m = _models[modelId];
        if (!m.registered) revert ModelNotConfigured(modelId);
        m.enabled = false;
        emit ModelDisabled(modelId);
    }

    function setModelFee(bytes32 modelId, uint256 fee) external onlyOwner {
        ModelCfg storage m = _models[modelId];
        if (!m.registered) revert ModelNotConfigured(modelId);
        m.fee = fee;
        emit ModelConfigUpdated(modelId, fee, m.maxOutputTokens);
    }

    function setModelMaxOutputTokens(bytes32 modelId, uint256 maxOutputTokens) external onlyOwner {
        ModelCfg storage m = _models[modelId];
        if (!m.registered) revert ModelNotConfigured(modelId);
        m.maxOutputTokens = maxOutputTokens;
        emit ModelConfigUpdated(modelId, m.fee, maxOutputTokens);
    }

    function setMinWorkerStake(uint256 stake) external onlyOwner {
        _minWorkerStake = stake;
        emit MinWorkerStakeUpdated(stake);
    }

    function setFeeDistribution(uint256 workerBps, uint256 protocolBps, uint256 feePoolBps) external onlyOwner {
        uint256 sum = workerBps + protocolBps + feePoolBps;
        if (sum != 10000) revert FeeInvariantViolation(sum, 10000);
        (_workerFeeBps, _protocolFeeBps, _feePoolBps) = (workerBps, protocolBps, feePoolBps);
        emit FeeDistributionUpdated(workerBps, protocolBps, feePoolBps);
    }

    function setDisputeWindow(uint256 window) external onlyOwner {
        _disputeWindow = window;
        emit DisputeParamsUpdated(_disputeBondMultiplier, window, _resolutionTimeout);
    }

    function setAckTimeout(uint256 value) external onlyOwner {
        _ackTimeout = value;
        emit InfraParamsUpdated("ackTimeout", value);
    }

    function setCompletionTimeout(uint256 value) external onlyOwner {
        _completionTimeout = value;
        emit InfraParamsUpdated("completionTimeout", value);
    }

    function _checkSlash(string memory name, uint256 bps) private view {
        if (bps > _maxSlashBps) revert ParameterOutOfBounds(name, bps, 0, _maxSlashBps);
    }

    function setTimeoutSlashBps(uint256 bps) external onlyOwner {
        _checkSlash("timeoutSlashBps", bps);
        _timeoutSlashBps = bps;
        emit SlashingParamsUpdated(_timeoutSlashBps, _completionTimeoutSlashBps, _disputeSlashBps);
    }

    function setCompletionTimeoutSlashBps(uint256 bps) external onlyOwner {
        _checkSlash("completionTimeoutSlashBps", bps);
        _completionTimeoutSlashBps = bps;
        emit SlashingParamsUpdated(_timeoutSlashBps, _completionTimeoutSlashBps, _disputeSlashBps);
    }

    function setDisputeSlashBps(uint256 bps) external onlyOwner {
        _checkSlash("disputeSlashBps", bps);
        _disputeSlashBps = bps;
        emit SlashingParamsUpdated(_timeoutSlashBps, _completionTimeoutSlashBps, _disputeSlashBps);
    }

    function setSuspensionThreshold(uint256 threshold) external onlyOwner {
        _suspensionThreshold = threshold;
        emit SuspensionParamsUpdated(threshold, _suspensionCooldown);
    }

    function setSuspensionCooldown(uint256 cooldown) external onlyOwner {
        _suspensionCooldown = cooldown;
        emit SuspensionParamsUpdated(_suspensionThreshold, cooldown);
    }

    function setTimeoutBountyBps(uint256 bps) external onlyOwner {
        _timeoutBountyBps = bps;
        emit KeeperParamsUpdated(bps, _releaseBountyBps);
    }

    function setReleaseBountyBps(uint256 bps) external onlyOwner {
        _releaseBountyBps = bps;
        emit KeeperParamsUpdated(_timeoutBountyBps, bps);
    }

    function setMaxConcurrentJobs(uint256 value) external onlyOwner {
        _maxConcurrentJobs = value;
        emit InfraParamsUpdated("maxConcurrentJobs", value);
    }

    function setSortitionEnabled(bool enabled) external onlyOwner {
        _sortitionEnabled = enabled;
    }

    function setSessionManagerAddress(address manager) external onlyOwner {
        _sessionManager = manager;
    }

    function setDisputerAddress(address disputer) external onlyOwner {
        _disputer = disputer;
    }
}
