// SPDX-License-Identifier: MIT
// Local replica of LightChain JobRegistry for anvil tests (spec/replica.md §4–5). Not the real contract.
pragma solidity 0.8.28;

interface IAIConfigJobs {
    function calculateJobFee(bytes32 modelId) external view returns (uint256);
    function getAckTimeout() external view returns (uint256);
    function getCompletionTimeout() external view returns (uint256);
    function getDisputeWindow() external view returns (uint256);
    function getWorkerFeeBps() external view returns (uint256);
    function getProtocolFeeBps() external view returns (uint256);
    function getTimeoutSlashBps() external view returns (uint256);
    function getCompletionTimeoutSlashBps() external view returns (uint256);
    function getDisputeSlashBps() external view returns (uint256);
    function getSessionManagerAddress() external view returns (address);
}

interface IWorkerRegistryJobs {
    function incrementActiveJobs(address worker, bytes32 modelId) external;
    function decrementActiveJobs(address worker, bytes32 modelId) external;
    function slashWithBounty(address worker, uint256 bps, address bountyRecipient)
        external
        returns (uint256 slashAmount, uint256 bountyPaid);
}

contract JobRegistryReplica {
    uint8 internal constant SUBMITTED = 0;
    uint8 internal constant ACKNOWLEDGED = 1;
    uint8 internal constant COMPLETED = 2;
    uint8 internal constant TIMED_OUT = 3;
    uint8 internal constant DISPUTED = 4;
    uint8 internal constant RESOLVED = 5;
    uint8 internal constant RELEASED = 6;

    uint8 internal constant ACTIVE = 0;

    struct Job {
        uint256 sessionId;
        address worker;
        uint8 state;
        uint256 escrowedFee;
        bytes32 promptBlobHash;
        bytes32 responseBlobHash;
        uint256 submittedAt;
        uint256 ackTimestamp;
        uint256 completedAt;
        uint256 deadline;
        address disputeFiler;
        uint256 disputeBond;
        bytes32 reExecutionBlobHash;
        uint256 similarityScore;
        uint256 disputeCreatedAt;
        bytes32 responseCiphertextHash;
        uint256 submitBlockNumber;
        uint256 completionBlockNumber;
    }

    struct Session {
        address user;
        bytes32 modelId;
        address worker;
        uint8 status;
        bytes encWorkerKey;
        bytes encDisputerKey;
        uint256 jobCount;
        uint256 lastActivityAt;
        uint256 reassignCount;
        uint256 deposit;
        address[] excludedWorkers;
    }

    bool private _initialized;
    address public owner;
    address public workerRegistry;
    address public aiConfig;
    address public treasury;
    address public feePool;
    address public guardian;

    uint256 public nextJobId = 1;
    uint256 public nextSessionId = 1;
    uint256 public noFaultGrace = 7200;
    bool public settleStuckEnabled = true;
    bool public zerosForUnknown;
    bool public enforceBlobHash;
    bool private _paused; // never set: real pause behaviour is out of scope
    uint256 public treasuryAccrued;
    uint256 public feePoolAccrued;

    mapping(uint256 => Job) private _jobs;
    mapping(uint256 => Session) private _sessions;
    mapping(address => uint256) private _workerBalance;
    mapping(address => uint256) public pendingRefund;

    event SessionCreated(
        uint256 indexed sessionId,
        address indexed user,
        bytes32 indexed modelId,
        address worker,
        bytes encWorkerKey,
        bytes encDisputerKey
    );
    event SessionAdopted(uint256 indexed sessionId, address indexed user, address indexed worker);
    event SessionKeyUpdated(uint256 indexed sessionId, bytes encWorkerKey, bytes encDisputerKey);
    event SessionReassigned(uint256 indexed sessionId, address newWorker);
    event SessionClosed(uint256 indexed sessionId);
    event JobSubmitted(uint256 indexed jobId, uint256 indexed sessionId, address worker);
    event JobAcknowledged(uint256 indexed jobId, address indexed worker);
    event JobCompleted(
        uint256 indexed jobId,
        address indexed worker,
        bytes32 responseBlobHash,
        bytes32 responseCiphertextHash
    );
    event JobTimedOut(uint256 indexed jobId, address indexed worker, uint256 slashAmount);
    event JobReleased(uint256 indexed jobId, uint256 workerShare, uint256 protocolShare, uint256 feePoolShare);
    event JobSettledNoFault(uint256 indexed jobId, uint256 refundAmount);
    event KeeperBountyPaid(uint256 indexed jobId, address indexed keeper, uint256 amount, uint8 kind);
    event WorkerWithdrawal(address indexed worker, uint256 amount);
    event DisputeCreated(uint256 indexed jobId, address indexed disputer);
    event DisputeResolved(uint256 indexed jobId, bool workerGuilty, uint256 similarityScore);
    event RefundEscrowed(address indexed recipient, uint256 amount);
    event RefundClaimed(address indexed recipient, uint256 amount);

    error DeadlineExceeded(uint256 jobId, uint256 deadline, uint256 currentTime);
    error DisputeWindowNotElapsed(uint256 jobId, uint256 windowEnd, uint256 currentTime);
    error NotTimedOut(uint256 jobId, uint256 deadline, uint256 currentTime);
    error NoFaultWindowNotReached(uint256 jobId, uint256 availableAt, uint256 currentTime);
    error JobNotFound(uint256 jobId);
    error JobNotInState(uint256 jobId, uint8 expected, uint8 actual);
    error NotJobWorker(uint256 jobId, address caller, address worker);
    error NoBalanceToWithdraw(address worker);
    error InsufficientFee(uint256 required, uint256 provided);
    error InvalidResponseCiphertextHash();
    error InvalidBlobHash();
    error SessionNotActive(uint256 sessionId);
    error SessionNotFound(uint256 sessionId);
    error NotSessionOwner(uint256 sessionId, address caller, address owner);
    error ModelDisabled(bytes32 modelId);
    error WorkerNotEligible(address worker, bytes32 modelId);
    error EtherTransferFailed();
    error EnforcedPause();
    error OwnableUnauthorizedAccount(address account);
    error InvalidInitialization();
    error NotSessionManager();
    error NothingToRefund(address recipient);
    error SettleStuckDisabled();

    modifier onlyOwner() {
        if (msg.sender != owner) revert OwnableUnauthorizedAccount(msg.sender);
        _;
    }

    function initialize(
        address _owner,
        address _workerRegistry,
        address _aiConfig,
        address _treasury,
        address _feePool,
        address _guardian
    ) external {
        if (_initialized) revert InvalidInitialization();
        _initialized = true;
        owner = _owner;
        workerRegistry = _workerRegistry;
        aiConfig = _aiConfig;
        treasury = _treasury;
        feePool = _feePool;
        guardian = _guardian;
    }

    // ---- views ----
    function getJob(uint256 jobId) external view returns (Job memory) {
        if (_jobs[jobId].worker == address(0) && !zerosForUnknown) revert JobNotFound(jobId);
        return _jobs[jobId];
    }

    function getSession(uint256 sessionId) external view returns (Session memory) {
        if (_sessions[sessionId].user == address(0) && !zerosForUnknown) revert SessionNotFound(sessionId);
        return _sessions[sessionId];
    }

    function paused() external view returns (bool) {
        return _paused;
    }

    function workerBalance(address worker) external view returns (uint256) {
        return _workerBalance[worker];
    }

    // ---- consumer side ----
    function submitJob(uint256 sessionId, bytes32 blobHash) external payable returns (uint256 jobId) {
        Session storage s = _sessions[sessionId];
        if (s.user == address(0)) revert SessionNotFound(sessionId);
        if (s.status != ACTIVE) revert SessionNotActive(sessionId);
        if (msg.sender != s.user) revert NotSessionOwner(sessionId, msg.sender, s.user);
        return _submit(sessionId, blobHash);
    }

    function adoptSession(
        address user,
        bytes32 modelId,
        address worker,
        bytes calldata encWorkerKey,
        bytes calldata encDisputerKey
    ) external returns (uint256 sessionId) {
        if (msg.sender != IAIConfigJobs(aiConfig).getSessionManagerAddress()) revert NotSessionManager();
        sessionId = _createSession(user, modelId, worker, encWorkerKey, encDisputerKey);
        emit SessionAdopted(sessionId, user, worker);
    }

    function claimRefund() external {
        uint256 amount = pendingRefund[msg.sender];
        if (amount == 0) revert NothingToRefund(msg.sender);
        pendingRefund[msg.sender] = 0;
        (bool ok, ) = payable(msg.sender).call{value: amount}("");
        if (!ok) revert EtherTransferFailed();
        emit RefundClaimed(msg.sender, amount);
    }

    // ---- worker side ----
    function acknowledgeJob(uint256 jobId) external {
        Job storage j = _existing(jobId);
        if (msg.sender != j.worker) revert NotJobWorker(jobId, msg.sender, j.worker);
        if (j.state != SUBMITTED) revert JobNotInState(jobId, SUBMITTED, j.state);
        if (block.timestamp > j.deadline) revert DeadlineExceeded(jobId, j.deadline, block.timestamp);
        j.state = ACKNOWLEDGED;
        j.ackTimestamp = block.timestamp;
        j.deadline = block.timestamp + IAIConfigJobs(aiConfig).getCompletionTimeout();
        emit JobAcknowledged(jobId, j.worker);
    }

    function completeJob(uint256 jobId, bytes32 responseBlobHash, bytes32 responseCiphertextHash) external {
        Job storage j = _existing(jobId);
        if (msg.sender != j.worker) revert NotJobWorker(jobId, msg.sender, j.worker);
        if (j.state != ACKNOWLEDGED) revert JobNotInState(jobId, ACKNOWLEDGED, j.state);
        if (block.timestamp > j.deadline) revert DeadlineExceeded(jobId, j.deadline, block.timestamp);
        if (responseCiphertextHash == bytes32(0)) revert InvalidResponseCiphertextHash();
        if (enforceBlobHash && blobhash(0) != responseBlobHash) revert InvalidBlobHash();
        _complete(j, jobId, responseBlobHash, responseCiphertextHash);
    }

    function withdraw() external {
        uint256 amount = _workerBalance[msg.sender];
        if (amount == 0) revert NoBalanceToWithdraw(msg.sender);
        _workerBalance[msg.sender] = 0;
        (bool ok, ) = payable(msg.sender).call{value: amount}("");
        if (!ok) revert EtherTransferFailed();
        emit WorkerWithdrawal(msg.sender, amount);
    }

    // ---- permissionless settlement ----
    function releaseJob(uint256 jobId) external {
        _release(jobId);
    }

    function releaseJobs(uint256[] calldata jobIds) external {
        for (uint256 i = 0; i < jobIds.length; i++) _release(jobIds[i]);
    }

    function claimTimeout(uint256 jobId) external {
        Job storage j = _existing(jobId);
        if (j.state != SUBMITTED && j.state != ACKNOWLEDGED) revert JobNotInState(jobId, ACKNOWLEDGED, j.state);
        if (block.timestamp <= j.deadline) revert NotTimedOut(jobId, j.deadline, block.timestamp);
        IAIConfigJobs cfg = IAIConfigJobs(aiConfig);
        uint256 bps = j.state == SUBMITTED ? cfg.getTimeoutSlashBps() : cfg.getCompletionTimeoutSlashBps();
        j.state = TIMED_OUT;
        (uint256 slashAmount, uint256 bounty) =
            IWorkerRegistryJobs(workerRegistry).slashWithBounty(j.worker, bps, msg.sender);
        if (bounty > 0) emit KeeperBountyPaid(jobId, msg.sender, bounty, 0);
        _refund(j);
        IWorkerRegistryJobs(workerRegistry).decrementActiveJobs(j.worker, _sessions[j.sessionId].modelId);
        emit JobTimedOut(jobId, j.worker, slashAmount);
    }

    function settleStuckJob(uint256 jobId) external {
        if (!settleStuckEnabled) revert SettleStuckDisabled();
        Job storage j = _existing(jobId);
        if (j.state != SUBMITTED && j.state != ACKNOWLEDGED) revert JobNotInState(jobId, ACKNOWLEDGED, j.state);
        uint256 availableAt = j.deadline + noFaultGrace;
        if (block.timestamp < availableAt) revert NoFaultWindowNotReached(jobId, availableAt, block.timestamp);
        j.state = TIMED_OUT;
        uint256 amount = _refund(j);
        IWorkerRegistryJobs(workerRegistry).decrementActiveJobs(j.worker, _sessions[j.sessionId].modelId);
        emit JobSettledNoFault(jobId, amount);
    }

    // ---- test-only helpers ----
    function testCreateSession(
        address user,
        bytes32 modelId,
        address worker,
        bytes calldata encWorkerKey,
        bytes calldata encDisputerKey
    ) external returns (uint256 sessionId) {
        return _createSession(user, modelId, worker, encWorkerKey, encDisputerKey);
    }

    function testCreateJob(address worker, bytes32 modelId, bytes32 promptBlobHash)
        external
        payable
        returns (uint256 sessionId, uint256 jobId)
    {
        sessionId = _createSession(msg.sender, modelId, worker, "", "");
        jobId = _submit(sessionId, promptBlobHash);
    }

    function testSubmitJobForSession(uint256 sessionId, bytes32 promptBlobHash)
        external
        payable
        returns (uint256 jobId)
    {
        Session storage s = _sessions[sessionId];
        if (s.user == address(0)) revert SessionNotFound(sessionId);
        if (s.status != ACTIVE) revert SessionNotActive(sessionId);
        return _submit(sessionId, promptBlobHash);
    }

    /// Creates `count` jobs for `worker` that are already Completed now (same events as the real path).
    function testCreateCompletedJobs(address worker, bytes32 modelId, uint256 count)
        external
        payable
        returns (uint256 firstJobId)
    {
        uint256 fee = IAIConfigJobs(aiConfig).calculateJobFee(modelId);
        if (msg.value != fee * count) revert InsufficientFee(fee * count, msg.value);
        uint256 sessionId = _createSession(msg.sender, modelId, worker, "", "");
        firstJobId = nextJobId;
        for (uint256 i = 0; i < count; i++) {
            uint256 jobId = _newJob(sessionId, worker, fee, keccak256(abi.encode(firstJobId + i)));
            Job storage j = _jobs[jobId];
            j.state = ACKNOWLEDGED;
            j.ackTimestamp = block.timestamp;
            emit JobAcknowledged(jobId, worker);
            _complete(j, jobId, keccak256(abi.encode("blob", jobId)), keccak256(abi.encode("ct", jobId)));
        }
    }

    function testSetSessionStatus(uint256 sessionId, uint8 status) external onlyOwner {
        _sessions[sessionId].status = status;
    }

    function testSetJobState(uint256 jobId, uint8 state) external onlyOwner {
        _existing(jobId).state = state;
    }

    function testResolveDispute(uint256 jobId, bool workerGuilty) external onlyOwner {
        Job storage j = _existing(jobId);
        j.state = RESOLVED;
        if (workerGuilty) {
            IWorkerRegistryJobs(workerRegistry).slashWithBounty(
                j.worker, IAIConfigJobs(aiConfig).getDisputeSlashBps(), address(0)
            );
            _refund(j);
            IWorkerRegistryJobs(workerRegistry).decrementActiveJobs(j.worker, _sessions[j.sessionId].modelId);
        }
        emit DisputeResolved(jobId, workerGuilty, 0);
    }

    function testSetEnforceBlobHash(bool enforce) external onlyOwner {
        enforceBlobHash = enforce;
    }

    function testSetNoFaultGrace(uint256 grace) external onlyOwner {
        noFaultGrace = grace;
    }

    function testSetSettleStuckEnabled(bool enabled) external onlyOwner {
        settleStuckEnabled = enabled;
    }

    function testSetZerosForUnknown(bool zeros) external onlyOwner {
        zerosForUnknown = zeros;
    }

    // ---- internals ----
    function _existing(uint256 jobId) private view returns (Job storage j) {
        j = _jobs[jobId];
        if (j.worker == address(0)) revert JobNotFound(jobId);
    }

    function _createSession(
        address user,
        bytes32 modelId,
        address worker,
        bytes memory encWorkerKey,
        bytes memory encDisputerKey
    ) private returns (uint256 sessionId) {
        sessionId = nextSessionId++;
        Session storage s = _sessions[sessionId];
        s.user = user;
        s.modelId = modelId;
        s.worker = worker;
        s.status = ACTIVE;
        s.encWorkerKey = encWorkerKey;
        s.encDisputerKey = encDisputerKey;
        s.lastActivityAt = block.timestamp;
        emit SessionCreated(sessionId, user, modelId, worker, encWorkerKey, encDisputerKey);
    }

    function _submit(uint256 sessionId, bytes32 blobHash) private returns (uint256 jobId) {
        Session storage s = _sessions[sessionId];
        uint256 fee = IAIConfigJobs(aiConfig).calculateJobFee(s.modelId);
        if (msg.value < fee) revert InsufficientFee(fee, msg.value);
        jobId = _newJob(sessionId, s.worker, msg.value, blobHash);
    }

    function _newJob(uint256 sessionId, address worker, uint256 escrow, bytes32 blobHash)
        private
        returns (uint256 jobId)
    {
        Session storage s = _sessions[sessionId];
        jobId = nextJobId++;
        Job storage j = _jobs[jobId];
        j.sessionId = sessionId;
        j.worker = worker;
        j.state = SUBMITTED;
        j.escrowedFee = escrow;
        j.promptBlobHash = blobHash;
        j.submittedAt = block.timestamp;
        j.submitBlockNumber = block.number;
        j.deadline = block.timestamp + IAIConfigJobs(aiConfig).getAckTimeout();
        s.jobCount += 1;
        s.lastActivityAt = block.timestamp;
        IWorkerRegistryJobs(workerRegistry).incrementActiveJobs(worker, s.modelId);
        emit JobSubmitted(jobId, sessionId, worker);
    }

    function _complete(Job storage j, uint256 jobId, bytes32 blobHash, bytes32 ctHash) private {
        j.state = COMPLETED;
        j.responseBlobHash = blobHash;
        j.responseCiphertextHash = ctHash;
        j.completedAt = block.timestamp;
        j.completionBlockNumber = block.number;
        emit JobCompleted(jobId, j.worker, blobHash, ctHash);
    }

    function _refund(Job storage j) private returns (uint256 amount) {
        amount = j.escrowedFee;
        j.escrowedFee = 0;
        if (amount > 0) {
            address user = _sessions[j.sessionId].user;
            pendingRefund[user] += amount;
            emit RefundEscrowed(user, amount);
        }
    }

    function _release(uint256 jobId) private {
        Job storage j = _existing(jobId);
        if (j.state == COMPLETED) {
            uint256 windowEnd = j.completedAt + IAIConfigJobs(aiConfig).getDisputeWindow();
            if (block.timestamp < windowEnd) revert DisputeWindowNotElapsed(jobId, windowEnd, block.timestamp);
        } else if (!(j.state == RESOLVED && j.escrowedFee > 0)) {
            revert JobNotInState(jobId, COMPLETED, j.state);
        }
        IAIConfigJobs cfg = IAIConfigJobs(aiConfig);
        uint256 fee = j.escrowedFee;
        uint256 workerShare = (fee * cfg.getWorkerFeeBps()) / 10000;
        uint256 protocolShare = (fee * cfg.getProtocolFeeBps()) / 10000;
        uint256 poolShare = fee - workerShare - protocolShare;
        j.escrowedFee = 0;
        j.state = RELEASED;
        _workerBalance[j.worker] += workerShare;
        treasuryAccrued += protocolShare;
        feePoolAccrued += poolShare;
        IWorkerRegistryJobs(workerRegistry).decrementActiveJobs(j.worker, _sessions[j.sessionId].modelId);
        emit JobReleased(jobId, workerShare, protocolShare, poolShare);
    }
}
