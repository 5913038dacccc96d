using ILGPU.Algorithms;

namespace AttentionWise.Kernels;

/// <summary>
/// Batch normalisation's statistics of one channel, finalised in one place for every kernel that normalises by them
/// (BatchNorm2d's coefficients, the attention heads' batchnorm): in training the batch's mean and biased variance are
/// used and the running statistics move towards them, running = (1 − momentum)·running + momentum·batch (the variance
/// unbiased by count/(count − 1)); in evaluation the running statistics are used. The inverse standard deviation is
/// 1/√(variance + eps), rounded twice (a square root, then a division) on every device.
/// </summary>
public readonly struct BatchNormStatistics
{
    private BatchNormStatistics(float mean, float invStd, float runningMean, float runningVar)
    {
        Mean = mean;
        InvStd = invStd;
        RunningMean = runningMean;
        RunningVar = runningVar;
    }

    /// <summary>The mean the channel is normalised with.</summary>
    public readonly float Mean;

    /// <summary>1/√(variance + eps) of the variance the channel is normalised with.</summary>
    public readonly float InvStd;

    /// <summary>The running mean to store (unchanged in evaluation).</summary>
    public readonly float RunningMean;

    /// <summary>The running variance to store (unchanged in evaluation).</summary>
    public readonly float RunningVar;

    /// <summary>Finalises one channel's statistics (see the type). <paramref name="batchMean"/>,
    /// <paramref name="batchVariance"/> (biased) and <paramref name="unbias"/> (count/(count − 1), or 1 for a count of 1)
    /// are read only in training (training ≠ 0).</summary>
    public static BatchNormStatistics Finalize(int training, float batchMean, float batchVariance, float unbias, float runningMean, float runningVar,
        float momentum, float eps)
    {
        float mean, variance;
        if (training != 0)
        {
            mean = batchMean;
            variance = batchVariance;
            runningMean = (1f - momentum) * runningMean + momentum * mean;
            runningVar = (1f - momentum) * runningVar + momentum * (variance * unbias);
        }
        else
        {
            mean = runningMean;
            variance = runningVar;
        }
        return new BatchNormStatistics(mean, 1f / XMath.Sqrt(variance + eps), runningMean, runningVar);
    }

    /// <summary>The batch mean Σx/count and biased variance max(Σx²/count − mean², 0) from a channel's sums.</summary>
    public static (float Mean, float Variance) FromSums(float sum, float sumSquares, int count)
    {
        float inv = 1f / count;
        float mean = sum * inv;
        return (mean, XMath.Max(sumSquares * inv - mean * mean, 0f));
    }

    /// <summary>count/(count − 1) in single precision, 1 for a count of 1 or less: the factor that unbiases a variance
    /// computed on the device from its count.</summary>
    public static float Unbias(int count) => count > 1 ? (float)count / (count - 1) : 1f;
}
