// Log-softmax followed by the negative log-likelihood loss (PyTorch's log_softmax + nll_loss, mean
// reduction), and its gradient.
//
//   logits, logp, g: [N, K]
//   labels:          [N]       class index 0..K−1 (int32; a label outside 0..K−1 gives NaN)
//   perItem:         [2, N]    perItem[0, n] = −logp[n, label], perItem[1, n] = 1 when argmax = label else 0
//   result:          [2]       result[0] = mean NLL, result[1] = correct count (fixed-order sums, one thread)
//
// Forward: thread n computes its row (max, log Σ exp, log-probabilities, loss, hit). The argmax takes the
// first of equal maxima. Backward: thread n writes g[n, k] = (exp(logp[n, k]) − [k = label]) / N.
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

internal static class LossKernels
{
    public static void Forward<TView>(Index1D n, ArrayView<float> logpView, ArrayView<float> perItemView, ArrayView<float> logitsView, ArrayView<int> labels,
        int batch, int classes)
        where TView : struct, IKernelView<TView>
    {
        var logp = TView.Of(logpView);
        var perItem = TView.Of(perItemView);
        var logits = TView.Of(logitsView);
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

        int label = labels[n];
        bool valid = label >= 0 && label < classes;
        perItem[n] = valid ? -logp[r + label] : float.NaN;
        perItem[batch + n] = valid && arg == label ? 1f : 0f;
    }

    /// <summary>One thread: result[0] = Σ_n perItem[0, n] / N, result[1] = Σ_n perItem[1, n], in order.</summary>
    public static void Result<TView>(Index1D index, ArrayView<float> resultView, ArrayView<float> perItemView, int batch)
        where TView : struct, IKernelView<TView>
    {
        var result = TView.Of(resultView);
        var perItem = TView.Of(perItemView);
        float loss = 0f, correct = 0f;
        for (int n = 0; n < batch; n++)
        {
            loss += perItem[n];
            correct += perItem[batch + n];
        }
        result[0] = loss / batch;
        result[1] = correct;
    }

    public static void Backward<TView>(Index1D n, ArrayView<float> gView, ArrayView<float> logpView, ArrayView<int> labels, int classes, float invBatch)
        where TView : struct, IKernelView<TView>
    {
        var g = TView.Of(gView);
        var logp = TView.Of(logpView);
        int r = n * classes;
        int label = labels[n];
        bool valid = label >= 0 && label < classes;
        for (int k = 0; k < classes; k++)
        {
            float p = XMath.Exp(logp[r + k]);
            float v = valid ? (k == label ? p - 1f : p) : float.NaN;
            g[r + k] = v * invBatch;
        }
    }
}

/// <summary>The loss kernels for one kernel view (<see cref="HostView"/> on the host backend, <see cref="DeviceView"/> on the
/// GPU backend), loaded once per device.</summary>
internal sealed class LossKernelSet<TView> : IKernelSet<LossKernelSet<TView>>
    where TView : struct, IKernelView<TView>
{
    private LossKernelSet(KernelLoader loader)
    {
        Forward = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int>(LossKernels.Forward<TView>);
        Result = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, int>(LossKernels.Result<TView>);
        Backward = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, float>(LossKernels.Backward<TView>);
    }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int> Forward { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, int> Result { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, float> Backward { get; }

    public static LossKernelSet<TView> Load(KernelLoader loader) => new(loader);
}
