// The head batchnorm (affine = false) of the element-wise attention heads: fixed-order partial sums over blocks of
// images, the statistics from them (one thread per channel; GPU-shaped devices use the group reductions of
// GroupReductionKernels instead), and the backward's softmax coefficients. Generic over the kernel view.
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

/// <summary>The head batchnorm's kernels (see the file header).</summary>
internal static class HeadNormKernels
{
    /// <summary>One thread per (channel q, block b of images): fields 0 and 1 of the entries summed over the
    /// block's images and every entry e, in a fixed order, into partial[q, b, 0..1].</summary>
    public static void PairPartialSums<TView>(Index1D thread, ArrayView<float> partialView, ArrayView<float> sourceView, PairSumDims d)
        where TView : struct, IKernelView<TView>
    {
        var partial = TView.Of(partialView);
        var source = TView.Of(sourceView);
        int q = thread / d.Blocks;
        int b = thread % d.Blocks;
        int n0 = b * d.BlockN;
        int n1 = XMath.Min(d.N, n0 + d.BlockN);
        float a0 = 0f, a1 = 0f;
        for (int n = n0; n < n1; n++)
        {
            int e = d.Offset + (n * d.Q + q) * d.Entries * d.Stride;
            float p0 = 0f, p1 = 0f;
            for (int k = 0; k < d.Entries; k++, e += d.Stride)
            {
                p0 += source[e];
                p1 += source[e + 1];
            }
            a0 += p0;
            a1 += p1;
        }
        partial[2 * thread] = a0;
        partial[2 * thread + 1] = a1;
    }

    /// <summary>Head batchnorm statistics, one thread per channel q. Training: batch mean and biased
    /// variance E[R²] − E[R]² (exact enough: where it cancels, the variance is far below eps), running
    /// statistics updated with the unbiased variance as PyTorch does; evaluation: the running statistics.
    /// Writes Stats[q] = μ, Stats[Q + q] = 1/sqrt(var + eps).</summary>
    public static void HeadNormForwardStats<TView>(Index1D q, ArrayView<float> auxView, ArrayView<float> runningMeanView, ArrayView<float> runningVarView,
        ArrayView<float> partialView, HeadNormConfig cfg)
        where TView : struct, IKernelView<TView>
    {
        var aux = TView.Of(auxView);
        var runningMean = TView.Of(runningMeanView);
        var runningVar = TView.Of(runningVarView);
        var partial = TView.Of(partialView);
        float batchMean = 0f, batchVariance = 0f;
        if (cfg.Training != 0)
        {
            float s1 = 0f, s2 = 0f;
            int p = q * cfg.Blocks * 2;
            for (int b = 0; b < cfg.Blocks; b++, p += 2)
            {
                s1 += partial[p];
                s2 += partial[p + 1];
            }
            (batchMean, batchVariance) = BatchNormStatistics.FromSums(s1, s2, cfg.Count);
        }
        var stats = BatchNormStatistics.Finalize(runningMean, runningVar, q, cfg.Training, batchMean, batchVariance,
            BatchNormStatistics.Unbias(cfg.Count), cfg.Momentum, cfg.Eps);
        aux[q] = stats.Mean;
        aux[cfg.Q + q] = stats.InvStd;
    }

    /// <summary>Backward batchnorm coefficients, one thread per channel q: a = mean(gR'), b = mean(gR'⊙R')
    /// in training mode, 0 in evaluation mode, into Stats[2Q + q] and Stats[3Q + q].</summary>
    public static void HeadNormBackwardStats<TView>(Index1D q, ArrayView<float> auxView, ArrayView<float> partialView, HeadNormConfig cfg)
        where TView : struct, IKernelView<TView>
    {
        var aux = TView.Of(auxView);
        var partial = TView.Of(partialView);
        float a = 0f, b = 0f;
        if (cfg.Training != 0)
        {
            int p = q * cfg.Blocks * 2;
            for (int k = 0; k < cfg.Blocks; k++, p += 2)
            {
                a += partial[p];
                b += partial[p + 1];
            }
            float inv = 1f / cfg.Count;
            a *= inv;
            b *= inv;
        }
        aux[2 * cfg.Q + q] = a;
        aux[3 * cfg.Q + q] = b;
    }

    /// <summary>Backward, one thread per row or column coefficient of each plane (n, q): thread e of
    /// N·Q·(H + W) takes plane e / (H + W) and, within it, row e mod (H + W) (or column e mod (H + W) − H), and turns
    /// that row's or column's A into s = Σ R·gR = rstd·(A − a·ΣR − b·ΣR·R'), with ΣR·R' = rstd·(ΣR² − μ·ΣR) from the
    /// forward's sums. Neighbouring threads read and write neighbouring rows (coalesced on a GPU), and the formula per
    /// element is the one a thread per plane would use, so the results are the same bits.</summary>
    public static void SoftmaxCoefficients<TView>(Index1D e, ArrayView<float> auxView, HeadDims d, HeadAux ax)
        where TView : struct, IKernelView<TView>
    {
        var aux = TView.Of(auxView);
        var (q, sums, target, _) = CoefficientLine(e, d, ax);
        float mu = aux[q];
        float rstd = aux[d.Q + q];
        float a = aux[2 * d.Q + q];
        float b = aux[3 * d.Q + q];
        float sr = aux[sums];
        aux[target] = rstd * (aux[target] - a * sr - b * rstd * (aux[sums + 1] - mu * sr));
    }

    /// <summary>Which line coefficient thread e of N·Q·(H + W) turns (see <see cref="SoftmaxCoefficients{TView}"/>): its
    /// channel q, the offset of its line's two R sums in aux (RowR or ColR), the offset of its A (RowA or ColA), and the
    /// line's length (W for a row, H for a column).</summary>
    public static (int Q, int Sums, int Target, int Length) CoefficientLine(int e, HeadDims d, HeadAux ax)
    {
        int lines = d.H + d.W;
        int image = e / lines;
        int line = e - image * lines;
        int q = image % d.Q;
        if (line < d.H)
        {
            int p = image * d.H + line;
            return (q, ax.RowR + 2 * p, ax.RowA + p, d.W);
        }
        int c = image * d.W + (line - d.H);
        return (q, ax.ColR + 2 * c, ax.ColA + c, d.H);
    }
}
