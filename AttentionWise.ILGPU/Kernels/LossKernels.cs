// Log-softmax followed by the negative log-likelihood loss (PyTorch's log_softmax + nll_loss, mean
// reduction), and its gradient.
//
//   logits, logp, g: [N, K]
//   labels:          [N]       class index 0..K−1 stored as a float (a label outside 0..K−1 gives NaN)
//   perItem:         [2, N]    perItem[0, n] = −logp[n, label], perItem[1, n] = 1 when argmax = label else 0
//   result:          [2]       result[0] = mean NLL, result[1] = correct count (fixed-order sums, one thread)
//
// Forward: thread n computes its row (max, log Σ exp, log-probabilities, loss, hit). The argmax takes the
// first of equal maxima. Backward: thread n writes g[n, k] = (exp(logp[n, k]) − [k = label]) / N.
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

public static class LossKernels
{
    public static void Forward(Index1D n, ArrayView<float> logp, ArrayView<float> perItem, ArrayView<float> logits, ArrayView<float> labels,
        int batch, int classes)
    {
        int r = n * classes;
        float max = logits[r];
        int arg = 0;
        for (int k = 1; k < classes; k++)
        {
            float v = logits[r + k];
            if (v > max)
            {
                max = v;
                arg = k;
            }
        }
        float sum = 0f;
        for (int k = 0; k < classes; k++)
            sum += XMath.Exp(logits[r + k] - max);
        float lse = XMath.Log(sum);
        for (int k = 0; k < classes; k++)
            logp[r + k] = logits[r + k] - max - lse;

        float lf = labels[n];
        int label = (int)lf;
        bool valid = lf >= 0f && label < classes && (float)label == lf;
        perItem[n] = valid ? -logp[r + label] : float.NaN;
        perItem[batch + n] = valid && arg == label ? 1f : 0f;
    }

    /// <summary>One thread: result[0] = Σ_n perItem[0, n] / N, result[1] = Σ_n perItem[1, n], in order.</summary>
    public static void Result(Index1D index, ArrayView<float> result, ArrayView<float> perItem, int batch)
    {
        float loss = 0f, correct = 0f;
        for (int n = 0; n < batch; n++)
        {
            loss += perItem[n];
            correct += perItem[batch + n];
        }
        result[0] = loss / batch;
        result[1] = correct;
    }

    public static void Backward(Index1D n, ArrayView<float> g, ArrayView<float> logp, ArrayView<float> labels, int classes, float invBatch)
    {
        int r = n * classes;
        float lf = labels[n];
        int label = (int)lf;
        bool valid = lf >= 0f && label < classes && (float)label == lf;
        for (int k = 0; k < classes; k++)
        {
            float p = XMath.Exp(logp[r + k]);
            float v = valid ? (k == label ? p - 1f : p) : float.NaN;
            g[r + k] = v * invBatch;
        }
    }
}

/// <summary>The loss kernels, loaded once per accelerator.</summary>
public sealed class LossKernelSet : IKernelSet<LossKernelSet>
{
    private LossKernelSet(Accelerator accelerator)
    {
        Forward = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(LossKernels.Forward);
        Result = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int>(LossKernels.Result);
        Backward = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>(LossKernels.Backward);
    }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> Forward { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, int> Result { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float> Backward { get; }

    public static LossKernelSet Load(Accelerator accelerator) => new(accelerator);
}
